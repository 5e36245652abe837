"""A stage's retry window (pipeline/retry.py Window) reads the machine's clock when it is asked, and only that clock: a
chosen one (LLMTRADE_NOW's FixedClock, a backtest's SteppingClock) keeps the run's instant, to the microsecond, however
far the clock has been moved since (a backtest steps it between runs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from llmtrade.clock import FixedClock, SteppingClock
from llmtrade.pipeline.retry import Window
from tests.fakes.running_clock import RunningClock

DEADLINE = datetime(2026, 1, 7, 14, 0, tzinfo=UTC)
JUST_BEFORE = DEADLINE - timedelta(microseconds=1)


def test_a_chosen_clock_keeps_the_runs_instant_to_the_microsecond() -> None:
    stepped = SteppingClock(JUST_BEFORE)
    window = Window(DEADLINE, JUST_BEFORE, stepped)
    stepped.set(DEADLINE + timedelta(hours=3))  # the backtest moved on: the run's instant is still its own
    assert window.open
    assert Window(DEADLINE, JUST_BEFORE, FixedClock(DEADLINE + timedelta(days=1))).open
    assert not Window(DEADLINE, DEADLINE, FixedClock(JUST_BEFORE)).open  # at the deadline: closed, whatever the clock


def test_the_machines_clock_is_read_when_the_window_is_asked() -> None:
    clock = RunningClock(JUST_BEFORE - timedelta(seconds=30))
    window = Window(DEADLINE, clock.now(), clock)
    assert window.open
    clock.advance(timedelta(seconds=31))
    assert not window.open
