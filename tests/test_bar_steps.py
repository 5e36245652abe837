"""Each bar's true range, gain and loss, kept from one day's indicators to the next (market/bar_steps.py): an
indicator set computed from kept steps must be, to the bit, the set computed from its bars alone, whatever was
asked before (the day before, a later day, another backtest's bars of the same symbol, a bar replaced)."""

from __future__ import annotations

import random

import pytest

from llmtrade.domain.market import Bar
from llmtrade.errors import MarketDataError
from llmtrade.market import bar_steps
from llmtrade.market.indicators import compute_indicators
from tests.test_backtest_cpu import _reference_correlation
from tests.test_indicator_arithmetic import _plain_atr, _plain_rsi
from tests.test_indicators import bar


def _walk(symbol: str, n: int, seed: int) -> list[Bar]:
    rng = random.Random(seed)
    out, close = [], 100.0
    for i in range(n):
        previous, close = close, round(close * (1 + rng.gauss(0, 0.02)), 4)
        high = round(max(previous, close) * (1 + abs(rng.gauss(0, 0.01))), 4)
        low = round(min(previous, close) * (1 - abs(rng.gauss(0, 0.01))), 4)
        if i % 9 == 0:
            high = low = close  # a flat day: |high - previous| and |low - previous| tie
        out.append(bar(i, close, high, low, symbol=symbol))
    return out


def _exact(bars: list[Bar], spy: list[Bar] | None = None) -> str:
    """The set as computed from copies of the bars (other objects: nothing kept answers for them), every float's
    bits shown; the kept series is left as it was."""
    kept = dict(bar_steps._KEPT)
    try:
        bar_steps.forget()
        copies = [b.model_copy() for b in spy] if spy else None
        return repr(compute_indicators([b.model_copy() for b in bars], copies).model_dump())
    finally:
        bar_steps._KEPT.clear()
        bar_steps._KEPT.update(kept)


def test_each_day_of_a_sliding_window_over_the_same_bars_gives_the_fresh_sets_numbers() -> None:
    bars, spy = _walk("TLT", 420, seed=1), _walk("SPY", 420, seed=9)
    for end in (300, 301, 302, 305, 350, 303, 420):  # the next day, a jump ahead, a day back
        window = bars[end - 300 : end]
        computed = compute_indicators(window, spy[end - 300 : end])
        assert computed.corr_spy_60 is not None
        assert repr(computed.model_dump()) == _exact(window, spy[end - 300 : end])
        assert repr(compute_indicators(window, spy[end - 250 : end - 1]).model_dump()) == _exact(
            window, spy[end - 250 : end - 1]
        )  # SPY a day behind: the returns aligned by day, as computed afresh
        closes = [b.close for b in window]
        assert repr(computed.rsi_14) == repr(_plain_rsi(closes, 14))
        highs, lows = [b.high for b in window], [b.low for b in window]
        assert repr(computed.atr_14) == repr(_plain_atr(highs, lows, closes, 14))


def test_another_series_of_the_same_symbol_is_never_answered_from_the_kept_one() -> None:
    first, other = _walk("GLD", 320, seed=2), _walk("GLD", 320, seed=3)  # another backtest's bars, same days
    compute_indicators(first[:300])
    assert repr(compute_indicators(other[1:301]).model_dump()) == _exact(other[1:301])
    replaced = [*first[1:200], first[200].model_copy(update={"close": first[200].close * 1.5}), *first[201:301]]
    assert repr(compute_indicators(replaced).model_dump()) == _exact(replaced)
    assert compute_indicators(replaced).rsi_14 != compute_indicators(first[1:301]).rsi_14


def test_a_series_past_the_span_starts_again_and_still_answers_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bar_steps, "_SPAN", 120)
    bars = _walk("SLV", 400, seed=4)
    for end in range(100, 400, 37):
        window = bars[end - 100 : end]
        assert repr(compute_indicators(window).model_dump()) == _exact(window)
    assert len(bar_steps._KEPT["SLV"].bars) <= 120 + 100


def test_a_days_steps_are_new_lists_so_a_caller_cannot_change_the_kept_ones() -> None:
    bars = _walk("USO", 60, seed=5)
    closes, true_ranges, gains, losses = bar_steps.steps(bars[:40], lambda _b: None)
    closes[0] = true_ranges[0] = gains[0] = losses[0] = -1.0
    assert bar_steps.steps(bars[:40], lambda _b: None)[0][0] != -1.0
    assert bar_steps.steps(bars[:40], lambda _b: None)[1][0] != -1.0
    assert len(true_ranges) == len(gains) == len(losses) == 39 and len(closes) == 40


def test_a_series_that_is_not_one_symbol_ascending_is_refused_even_when_made_of_kept_bars() -> None:
    bars, other = _walk("XLE", 80, seed=6), _walk("XLU", 80, seed=7)
    compute_indicators(bars[:60])
    with pytest.raises(MarketDataError, match="mix symbols"):
        compute_indicators([*bars[:30], other[30]])
    with pytest.raises(MarketDataError, match="not strictly ascending"):
        compute_indicators([*bars[:30], bars[10]])
    with pytest.raises(MarketDataError, match="not strictly ascending"):
        compute_indicators(bars[:30], [*bars[:10], bars[5]])
    assert repr(compute_indicators(bars[20:70]).model_dump()) == _exact(bars[20:70])


def test_a_kept_series_carried_on_by_bad_bars_is_refused_as_the_whole_series_is() -> None:
    # A series carrying on from a kept one is checked from the last kept bar on only (the rest passed already):
    # a bar of another symbol, a day out of order or a repeated day after the kept bars is still refused, with the
    # message the whole series' check gives.
    bars, other = _walk("TLT", 60, seed=5), _walk("IEF", 60, seed=6)
    bar_steps.forget()
    compute_indicators(bars[:40])
    with pytest.raises(MarketDataError, match=r"mix symbols \['IEF', 'TLT'\]"):
        compute_indicators([*bars[:41], other[41]])
    with pytest.raises(MarketDataError, match=r"not strictly ascending by day: .* is followed by"):
        compute_indicators([*bars[:40], bars[41], bars[40]])
    with pytest.raises(MarketDataError, match="not strictly ascending"):
        compute_indicators([*bars[:40], bars[39]])
    assert repr(compute_indicators(bars[:45]).model_dump()) == _exact(bars[:45])  # the good carry-on still answers
    bar_steps.forget()


def test_the_last_completed_session_is_the_instants_whatever_was_asked_before() -> None:
    # Kept by instant (market/calendar.py): a minute before the close and the close itself differ, and the same
    # instant in another zone answers the same.
    from datetime import UTC, date, datetime

    from llmtrade.market.calendar import NEW_YORK, TradingCalendar

    calendar = TradingCalendar()
    before = datetime(2024, 3, 6, 15, 59, tzinfo=NEW_YORK)
    at = datetime(2024, 3, 6, 16, 0, tzinfo=NEW_YORK)
    for _ in range(2):
        assert calendar.last_completed_session(before) == date(2024, 3, 5)
        assert calendar.last_completed_session(at) == date(2024, 3, 6)
        assert calendar.last_completed_session(at.astimezone(UTC)) == date(2024, 3, 6)
    assert calendar.last_completed_session(datetime(2000, 1, 3, 12, tzinfo=NEW_YORK)) is None
    assert calendar.last_completed_session(datetime(2000, 1, 3, 12, tzinfo=NEW_YORK)) is None


# corr_spy_60 by its definition: each series' returns keyed by day, over the last 60 days both have.
_plain_correlation = _reference_correlation


def test_the_spy_correlation_from_kept_returns_pairs_the_same_days_as_its_definition() -> None:
    """The correlation is read off the kept returns when both series' last 60 days are the same days; a SPY series
    missing a day among them (or a day behind) pairs each return with the same day's all the same."""
    bars, spy = _walk("TLT", 420, seed=11), _walk("SPY", 420, seed=12)
    for end in (301, 302, 330, 420):
        window = spy[end - 300 : end]
        gappy = [*window[:-20], *window[-19:]]  # a day of the last 60 missing: the same count of days would misalign
        for theirs in (window, gappy, spy[end - 299 : end - 1], [*spy[end - 301 : end - 20], *spy[end - 19 : end]]):
            computed = compute_indicators(bars[end - 300 : end], theirs).corr_spy_60
            assert computed is not None
            assert repr(computed) == repr(_plain_correlation(bars[end - 300 : end], theirs))
