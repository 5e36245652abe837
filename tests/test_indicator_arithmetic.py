"""Wilder's average and the true range as the indicators compute them now must give the very doubles the plain
formulas give (`max` of the three ranges, `(prev * (n - 1) + x) / n` with int operands): a backtest's every
checkpoint shows them, and its events must stay byte-identical."""

from __future__ import annotations

import random
import statistics
from itertools import pairwise

from llmtrade.market.indicators import _atr_of, _rsi, _wilder


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
            assert repr(_atr_of(highs, lows, closes, period)) == repr(_plain_atr(highs, lows, closes, period))
            assert repr(_rsi(closes, period)) == repr(_plain_rsi(closes, period))


def test_the_true_range_is_the_first_largest_of_the_three_as_max_picks_it() -> None:
    nan = float("nan")
    cases = [(2.0, 1.0, 1.5), (2.0, 1.0, 3.0), (2.0, 1.0, 0.0), (1.0, 1.0, 1.0), (nan, 1.0, 1.5), (2.0, 1.0, nan)]
    for high, low, close in cases:
        highs, lows, closes = [close, high], [close, low], [close, close]
        assert repr(_atr_of(highs, lows, closes, 1)) == repr(_plain_atr(highs, lows, closes, 1))
