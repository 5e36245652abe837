"""Indicators checked against arithmetic written out by hand on a small fixed series."""

from __future__ import annotations

import math
import random
import statistics
from datetime import date, timedelta
from itertools import pairwise

import pytest

from llmtrade.domain.market import Bar
from llmtrade.errors import MarketDataError
from llmtrade.market.indicators import compute_indicators

START = date(2025, 1, 1)

# Thirty closes: mostly +2, with a -1 every third day and +3 on days 3 and 29.
CLOSES = [
    100, 102, 101, 104, 103, 105, 107, 106, 108, 110,
    109, 111, 113, 112, 114, 116, 115, 117, 119, 118,
    120, 122, 121, 123, 125, 124, 126, 128, 127, 130,
]  # fmt: skip
# Every bar spans close - 1 to close + 1, except a wide day 7 (105..110) and a spike to 140 on day 20.
WIDE_DAY, SPIKE_DAY = 7, 20


def bar(i: int, close: float, high: float, low: float, symbol: str = "ABC", synthetic: bool = False) -> Bar:
    return Bar(
        symbol=symbol,
        day=START + timedelta(days=i),
        open=close,
        high=high,
        low=low,
        close=close,
        volume=1000,
        source="test",
        synthetic=synthetic,
    )


def series() -> list[Bar]:
    bars = [bar(i, close, close + 1, close - 1) for i, close in enumerate(CLOSES)]
    bars[WIDE_DAY] = bar(WIDE_DAY, 106, 110, 105)
    bars[SPIKE_DAY] = bar(SPIKE_DAY, 120, 140, 119)
    return bars


def from_returns(returns: list[float], symbol: str, first: int = 0) -> list[Bar]:
    """Bars from day `first` on whose daily simple returns are `returns`."""
    closes = [100.0]
    for r in returns:
        closes.append(closes[-1] * (1 + r))
    return [bar(first + i, close, close, close, symbol=symbol) for i, close in enumerate(closes)]


# 60 daily returns with no simple pattern in sign or size.
RETURNS = [0.01 * (((i * 7) % 11) - 5) / 5 for i in range(60)]


def test_last_close_and_asof_day_come_from_the_last_bar() -> None:
    result = compute_indicators(series())
    assert result.symbol == "ABC"
    assert result.asof_day == date(2025, 1, 30)
    assert result.close == 130
    assert result.bars_used == 30


def test_simple_returns_over_5_and_20_sessions() -> None:
    result = compute_indicators(series())
    # 1 week: close of day 29 over close of day 24 (five sessions earlier).
    assert result.return_1w == pytest.approx(130 / 125 - 1)
    assert result.return_1w == pytest.approx(0.04)
    # 4 weeks: day 29 over day 9.
    assert result.return_4w == pytest.approx(130 / 110 - 1)


def test_sma_20_and_price_versus_it() -> None:
    result = compute_indicators(series())
    last_20 = [109, 111, 113, 112, 114, 116, 115, 117, 119, 118, 120, 122, 121, 123, 125, 124, 126, 128, 127, 130]
    assert sum(last_20) == 2390
    assert result.sma_20 == pytest.approx(2390 / 20)
    assert result.sma_20 == pytest.approx(119.5)
    assert result.price_vs_sma_20 == pytest.approx(130 / 119.5 - 1)


def test_too_short_history_gives_none() -> None:
    result = compute_indicators(series())
    assert result.return_12w is None  # needs 61 bars
    assert result.sma_50 is None
    assert result.sma_200 is None
    assert result.price_vs_sma_50 is None
    assert result.price_vs_sma_200 is None
    assert result.corr_spy_60 is None
    short = compute_indicators(series()[:14])
    assert short.rsi_14 is None  # 13 changes, needs 14
    assert short.atr_14 is None  # 13 true ranges, needs 14
    assert short.realized_vol_20 is None
    assert short.return_4w is None
    assert short.sma_20 is None
    single = compute_indicators(series()[:1])
    assert single.return_1w is None
    # Under a year of bars there is no 52-week high to fall from (a trial read 25 bars' drawdown as a year's).
    assert single.drawdown_from_52w_high is None
    assert compute_indicators(series()).drawdown_from_52w_high is None


def test_rsi_first_average_is_a_simple_mean() -> None:
    # 15 bars give 14 changes: +2 -1 +3 -1 +2 +2 -1 +2 +2 -1 +2 +2 -1 +2.
    gains = 2 + 3 + 2 + 2 + 2 + 2 + 2 + 2 + 2  # 19
    losses = 1 + 1 + 1 + 1 + 1  # 5
    average_gain, average_loss = gains / 14, losses / 14
    expected = 100 - 100 / (1 + average_gain / average_loss)  # 100 - 100 / 4.8
    assert expected == pytest.approx(79.1666667)
    assert compute_indicators(series()[:15]).rsi_14 == pytest.approx(expected)


def test_rsi_first_wilder_step() -> None:
    # The 15th change (day 15: 114 -> 116) is a gain of 2 and a loss of 0.
    average_gain = (19 / 14 * 13 + 2) / 14  # 275 / 196
    average_loss = (5 / 14 * 13 + 0) / 14  # 65 / 196
    expected = 100 - 100 / (1 + average_gain / average_loss)  # 100 - 100 * 13 / 68
    assert expected == pytest.approx(80.8823529)
    assert compute_indicators(series()[:16]).rsi_14 == pytest.approx(expected)


def test_rsi_is_100_without_losses() -> None:
    rising = [bar(i, 100 + i, 101 + i, 99 + i) for i in range(20)]
    assert compute_indicators(rising).rsi_14 == 100.0


def test_atr_first_value_is_the_mean_of_14_true_ranges() -> None:
    # Bar i spans close - 1 .. close + 1, so its true range against yesterday's close is
    # max(2, |change| + 1); day 7 spans 105..110 against 107: max(5, 3, 2) = 5.
    true_ranges = [
        3,  # day 1: 100 -> 102
        2,  # day 2: 102 -> 101
        4,  # day 3: 101 -> 104
        2,  # day 4
        3,  # day 5
        3,  # day 6
        5,  # day 7: the wide bar, high - low wins
        3,  # day 8: 106 -> 108 (high 109 against 106)
        3,  # day 9
        2,  # day 10
        3,  # day 11
        3,  # day 12
        2,  # day 13
        3,  # day 14
    ]
    assert sum(true_ranges) == 41
    assert compute_indicators(series()[:15]).atr_14 == pytest.approx(41 / 14)
    # One Wilder step: day 15 (114 -> 116) has true range 3.
    assert compute_indicators(series()[:16]).atr_14 == pytest.approx((41 / 14 * 13 + 3) / 14)


def test_realized_vol_is_annualised_stdev_of_20_log_returns() -> None:
    last_21 = [110, 109, 111, 113, 112, 114, 116, 115, 117, 119, 118, 120, 122, 121, 123, 125, 124, 126, 128, 127, 130]
    log_returns = [math.log(after / before) for before, after in pairwise(last_21)]
    assert len(log_returns) == 20
    expected = statistics.stdev(log_returns) * math.sqrt(252)
    assert compute_indicators(series()).realized_vol_20 == pytest.approx(expected)


def test_drawdown_from_the_highest_high() -> None:
    # A year of quiet bars before the series (highs of 101), so the window is a year's.
    year = [bar(i - 400, 100, 101, 99) for i in range(252)]
    # The spike on day 20 reached 140; the last close is 130.
    assert compute_indicators([*year, *series()]).drawdown_from_52w_high == pytest.approx(130 / 140 - 1)
    # Before the spike, day 19 closes 118 and the highest high so far is day 18's 120.
    assert compute_indicators([*year, *series()[:20]]).drawdown_from_52w_high == pytest.approx(118 / 120 - 1)


def test_drawdown_looks_back_252_sessions_only() -> None:
    flat = [bar(i, 100, 101, 99) for i in range(260)]
    flat[0] = bar(0, 100, 500, 99)
    # With 260 bars the 500 high of day 0 is 260 sessions old and falls out of the window.
    assert compute_indicators(flat).drawdown_from_52w_high == pytest.approx(100 / 101 - 1)
    # With 252 bars day 0 is still inside the window.
    assert compute_indicators(flat[:252]).drawdown_from_52w_high == pytest.approx(100 / 500 - 1)


def test_correlation_of_spy_with_itself_is_one() -> None:
    spy = from_returns(RETURNS, "SPY")  # 61 bars, 60 returns
    assert compute_indicators(spy, spy_bars=spy).corr_spy_60 == 1.0


def test_correlation_with_a_mirrored_series_is_minus_one() -> None:
    spy = from_returns(RETURNS, "SPY")
    mirror = from_returns([-r for r in RETURNS], "INV")
    assert compute_indicators(mirror, spy_bars=spy).corr_spy_60 == pytest.approx(-1.0)


def test_correlation_needs_60_common_returns() -> None:
    spy = from_returns(RETURNS, "SPY")
    same = from_returns(RETURNS, "ABC")
    assert compute_indicators(same, spy_bars=spy[1:]).corr_spy_60 is None  # 59 returns
    assert compute_indicators(same, spy_bars=None).corr_spy_60 is None
    # SPY without day 30 has no return keyed on day 30, leaving 59 common days.
    gappy = spy[:30] + spy[31:]
    assert compute_indicators(same, spy_bars=gappy).corr_spy_60 is None


def test_correlation_aligns_returns_by_date() -> None:
    same = from_returns(RETURNS, "ABC")  # days 0..60
    # Two extra later SPY days the symbol does not have: pairing by position from the end would shift by two.
    later = from_returns([*RETURNS, 0.02, -0.03], "SPY")
    assert compute_indicators(same, spy_bars=later).corr_spy_60 == 1.0
    # Three extra earlier SPY days (days -3..-1) with other returns: pairing from the start would shift by three.
    earlier = from_returns([0.02, -0.03, 0.01, 0.0, *RETURNS], "SPY", first=-4)
    assert compute_indicators(same, spy_bars=earlier).corr_spy_60 == pytest.approx(1.0)


def test_synthetic_flag_propagates() -> None:
    assert compute_indicators(series()).synthetic is False
    bars = series()
    bars[3] = bar(3, 104, 105, 103, synthetic=True)
    assert compute_indicators(bars).synthetic is True


def test_synthetic_spy_taints_the_correlation() -> None:
    real = from_returns(RETURNS, "ABC")
    fake_spy = [b.model_copy(update={"synthetic": True}) for b in from_returns(RETURNS, "SPY")]
    assert compute_indicators(real, spy_bars=fake_spy).synthetic is True


def test_unsorted_bars_are_rejected() -> None:
    bars = series()
    bars[4], bars[5] = bars[5], bars[4]
    with pytest.raises(MarketDataError, match="not strictly ascending"):
        compute_indicators(bars)


def test_duplicate_days_are_rejected() -> None:
    bars = series()
    with pytest.raises(MarketDataError, match="not strictly ascending"):
        compute_indicators([*bars[:10], bars[9]])


def test_empty_and_mixed_symbol_inputs_are_rejected() -> None:
    with pytest.raises(MarketDataError, match="no bars"):
        compute_indicators([])
    mixed = [*series()[:5], bar(5, 105, 106, 104, symbol="XYZ")]
    with pytest.raises(MarketDataError, match="mix symbols"):
        compute_indicators(mixed)


def test_realized_vols_stdev_is_statistics_stdev_to_the_bit() -> None:
    # The sample deviation is worked out in integers (statistics' Fractions were a quarter of an indicator
    # set's time): every realized vol ever computed must stay the same number.
    from llmtrade.market.indicators import _stdev

    rng = random.Random(13)
    extremes = [0.0, 5e-324, 1e-300, -2.5e10, 3.0, 1e308, -1e-5]
    series = [[math.log(rng.uniform(0.9, 1.1)) for _ in range(rng.choice([2, 3, 20, 21, 60]))] for _ in range(3000)]
    series += [[rng.gauss(0, 1e-3) for _ in range(20)] for _ in range(1000)]
    series += [[rng.choice(extremes) for _ in range(rng.choice([2, 5, 20]))] for _ in range(1000)]
    series += [[0.01] * 20, [-0.0, 0.0], [1e308, -1e308]]
    assert [_stdev(s) for s in series] == [statistics.stdev(s) for s in series]
