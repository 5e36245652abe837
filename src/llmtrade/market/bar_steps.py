"""What each daily bar adds over the bar before it, worked out once per bar: its true range, its close's gain and
loss (ATR's and RSI's inputs) and its return (the SPY correlation's), handed out as slices of one symbol's series.

A symbol's indicators are computed every session over some 300 sessions (market/indicators.py), each day's series
the day before's moved on by one bar: the pairs of bars are the same but one, and their steps were half the
arithmetic of an indicator set. Each step is a pure function of its two bars (frozen), computed by the same
expression as a fresh computation, so a slice of kept steps is the very list a fresh one would build.

Kept per symbol by the bars' identity: the last series asked for, extended at its end when the next one carries on
from it with the very same bar objects (a backtest's bar cache hands out slices of one list of Bars); anything else
(other objects, a gap, another backtest's bars) starts the series again from what was asked. The kept bars are held
beside their steps, so no id is reused while they are kept.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise

from llmtrade.domain.market import Bar

# How far into a kept series a request may start before the series starts again from it: the bars before a request
# are only ever asked for again by an earlier day's, so a series holds at most this many more than a request.
_SPAN = 400


@dataclass
class _Series:
    """One symbol's bars in order and, at index i >= 1, what bar i adds over bar i - 1 (index 0 holds nothing)."""

    bars: list[Bar] = field(default_factory=list)
    at: dict[int, int] = field(default_factory=dict)  # id(bar) -> its index in `bars`
    days: list[date] = field(default_factory=list)
    closes: list[float] = field(default_factory=list)
    true_ranges: list[float] = field(default_factory=list)
    gains: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)  # close over the previous close, less 1

    def extend(self, more: Sequence[Bar]) -> None:
        """Append `more`, each bar following the last one held (the first of all adds no step)."""
        previous = self.bars[-1] if self.bars else None
        for bar in more:
            self.at[id(bar)] = len(self.bars)
            self.bars.append(bar)
            self.days.append(bar.day)
            self.closes.append(bar.close)
            if previous is None:
                self.true_ranges.append(0.0)
                self.gains.append(0.0)
                self.losses.append(0.0)
                self.returns.append(0.0)
            else:
                self.returns.append(bar.close / previous.close - 1)
                self.true_ranges.append(true_range(bar.high, bar.low, previous.close))
                gain, loss = gain_and_loss(bar.close - previous.close)
                self.gains.append(gain)
                self.losses.append(loss)
            previous = bar


def gain_and_loss(change: float) -> tuple[float, float]:
    """RSI's inputs of a close-to-close change: (max(change, 0.0), max(-change, 0.0)) to the bit (a -0.0 change
    stays -0.0), without the calls."""
    return (0.0 if change < 0.0 else change), (0.0 if change > 0.0 else -change)


def true_range(high: float, low: float, previous_close: float) -> float:
    """The largest of high - low, |high - previous close| and |low - previous close|: the first, replaced only by
    a greater one (what `max` picks), without a call."""
    largest = high - low
    other = abs(high - previous_close)
    if other > largest:
        largest = other
    other = abs(low - previous_close)
    if other > largest:
        largest = other
    return largest


_KEPT: dict[str, _Series] = {}
_LOCK = threading.Lock()


def steps(
    bars: Sequence[Bar], check: Callable[[Sequence[Bar]], None]
) -> tuple[list[float], list[float], list[float], list[float]]:
    """(closes, true ranges, gains, losses): each bar's close, and the true range, gain and loss of each bar of `bars`
    (one symbol, ascending, at least one bar) over the bar before it: len(bars) - 1 of each, what a computation over
    `bars` alone gives, to the bit. New lists.

    `check(bars)` (which raises on a series indicators must refuse) is called unless `bars` lie within a kept
    series: a kept series holds only bars that passed it, one symbol in ascending order, so any run of them does."""
    with _LOCK:
        series, start = _kept(bars, check)
        end = start + len(bars)
        return (
            series.closes[start:end],
            series.true_ranges[start + 1 : end],
            series.gains[start + 1 : end],
            series.losses[start + 1 : end],
        )


def keep(bars: Sequence[Bar], check: Callable[[Sequence[Bar]], None]) -> None:
    """`steps` for what it keeps (so `daily_returns` of these bars is sliced, not computed): nothing returned."""
    with _LOCK:
        _kept(bars, check)


def daily_returns(bars: Sequence[Bar]) -> dict[date, float]:
    """Each bar's simple return over the bar before it, keyed by the later bar's day (len(bars) - 1 of them):
    sliced from a kept series when `bars` lie within one, else computed, the same numbers either way."""
    with _LOCK:
        found = _within(bars) if bars else None
        if found is not None:
            series, start = found
            end = start + len(bars)
            return dict(zip(series.days[start + 1 : end], series.returns[start + 1 : end], strict=True))
    return {bar.day: bar.close / previous.close - 1 for previous, bar in pairwise(bars)}


def last_returns(bars: Sequence[Bar], count: int) -> tuple[list[date], list[float]] | None:
    """The days of the last `count` bars of `bars` (len(bars) > count) and each one's return over the bar before it,
    sliced from the kept series `bars` lie within (the numbers `daily_returns` gives them); None when none holds them.
    New lists."""
    with _LOCK:
        found = _within(bars) if len(bars) > count else None
        if found is None:
            return None
        series, start = found
        end = start + len(bars)
        return series.days[end - count : end], series.returns[end - count : end]


def _within(bars: Sequence[Bar]) -> tuple[_Series, int] | None:
    """The kept series `bars` lie wholly within (the very objects, in order) and where they start in it."""
    series = _KEPT.get(bars[0].symbol)
    start = series.at.get(id(bars[0])) if series is not None else None
    if series is None or start is None or start + len(bars) > len(series.bars):
        return None
    return (series, start) if _carries_on(series, bars, start) else None


def _kept(bars: Sequence[Bar], check: Callable[[Sequence[Bar]], None]) -> tuple[_Series, int]:
    """The series holding `bars` and where they start in it: the kept one, carried on past its end when `bars`
    continue it, else a new one of `bars` alone (checked first: nothing unchecked is ever kept)."""
    found = _within(bars)
    if found is not None:
        return found
    series = _KEPT.get(bars[0].symbol)
    start = series.at.get(id(bars[0])) if series is not None else None
    if series is not None and start is not None and start <= _SPAN and _carries_on(series, bars, start):
        # The bars up to the kept series' end are kept ones (checked: one symbol, ascending, the symbol of bars[0]),
        # so only the rest and the last kept bar before it can break the check: it raises for `bars` exactly when it
        # would for all of them, naming the same symbols or the same first day out of order.
        held = len(series.bars) - start
        check(bars[held - 1 :])
        series.extend(bars[held:])
        return series, start
    check(bars)
    series = _Series()
    series.extend(bars)
    _KEPT[bars[0].symbol] = series
    return series, 0


def _carries_on(series: _Series, bars: Sequence[Bar], start: int) -> bool:
    """Whether `bars` are the kept bars from `start` on, the very objects, for as far as both go."""
    shared = min(len(bars), len(series.bars) - start)
    return all(map(operator.is_, bars[:shared], series.bars[start : start + shared]))


def forget() -> None:
    """Drop every kept series (tests; nothing else needs to: a series only ever answers for its own bars)."""
    with _LOCK:
        _KEPT.clear()
