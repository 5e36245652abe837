"""Wilder's average, the true range and the gains and losses as the indicators compute them now (each bar's steps
kept by market/bar_steps.py) must give the very doubles the plain formulas give (`max` of the three ranges,
`max(change, 0.0)`, `(prev * (n - 1) + x) / n` with int operands): a backtest's every checkpoint shows them, and its
events must stay byte-identical."""

from __future__ import annotations

import random
import statistics
from itertools import pairwise

from llmtrade.market.bar_steps import gain_and_loss, true_range
from llmtrade.market.indicators import _rsi_of, _wilder


def _plain_wilder(values: list[float], period: int) -> float | None:
    if len(values) < period:
        return None
    average = statistics.fmean(values[:period])
    for value in values[period:]:
        average = (average * (period - 1) + value) / period
    return average


def _plain_atr(highs: list[float], lows: list[float], closes: list[float], period: int) -> float | None:
    ranges = [max(h - lo, abs(h - c), abs(lo - c)) for h, lo, c in zip(highs[1:], lows[1:], closes, strict=False)]
    return _plain_wilder(ranges, period)


def _plain_rsi(closes: list[float], period: int) -> float | None:
    changes = [after - before for before, after in pairwise(closes)]
    gain = _plain_wilder([max(c, 0.0) for c in changes], period)
    loss = _plain_wilder([max(-c, 0.0) for c in changes], period)
    if gain is None or loss is None:
        return None
    return 100.0 if loss == 0 else 100 - 100 / (1 + gain / loss)


def _kept_atr_and_rsi(highs: list[float], lows: list[float], closes: list[float], period: int) -> tuple[object, ...]:
    """ATR and RSI from each bar's steps as market/bar_steps.py keeps them (true_range, gain_and_loss)."""
    ranges = [true_range(h, lo, c) for h, lo, c in zip(highs[1:], lows[1:], closes, strict=False)]
    steps = [gain_and_loss(after - before) for before, after in pairwise(closes)]
    gains, losses = [g for g, _ in steps], [lo for _, lo in steps]
    return _wilder(ranges, period), _rsi_of(gains, losses, period)


def test_wilder_atr_and_rsi_are_the_plain_formulas_to_the_bit() -> None:
    rng = random.Random(13)
    for trial in range(300):
        n = rng.choice([5, 14, 15, 40, 316])
        scale = rng.choice([1e-3, 1.0, 250.0, 1e5])
        closes = [round(scale * (1 + rng.uniform(-0.2, 0.2)), rng.choice([2, 4, 12])) for _ in range(n)]
        if trial % 7 == 0:
            closes = [closes[0]] * n  # flat: every range and change zero
        highs = [c * (1 + rng.choice([0.0, rng.uniform(0, 0.03)])) for c in closes]
        lows = [c * (1 - rng.choice([0.0, rng.uniform(0, 0.03)])) for c in closes]
        for period in (3, 14):
            expected = _plain_wilder(closes, period)
            assert repr(_wilder(closes, period)) == repr(expected)
            atr, rsi = _kept_atr_and_rsi(highs, lows, closes, period)
            assert repr(atr) == repr(_plain_atr(highs, lows, closes, period))
            assert repr(rsi) == repr(_plain_rsi(closes, period))


def test_the_true_range_is_the_first_largest_of_the_three_as_max_picks_it() -> None:
    nan = float("nan")
    cases = [(2.0, 1.0, 1.5), (2.0, 1.0, 3.0), (2.0, 1.0, 0.0), (1.0, 1.0, 1.0), (nan, 1.0, 1.5), (2.0, 1.0, nan)]
    for high, low, close in cases:
        assert repr(true_range(high, low, close)) == repr(max(high - low, abs(high - close), abs(low - close)))
