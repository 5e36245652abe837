"""The one clock every command reads.

Real time in production; a fixed instant from LLMTRADE_NOW for tests, drills and replays, so
that "what is due now" and "which week is this" are reproducible; a stepping clock for a backtest,
moved to each scheduled instant in turn.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

# What durations are measured on: seconds on a scale only differences of which mean anything (time.perf_counter,
# live). A backtest measures its runs and model calls on its stepped clock (app/backtest_container.py): a job takes
# no time on it, so two runs of the same backtest store the same durations (0) and the same bytes (issue 13).
Timer = Callable[[], float]


class Clock(Protocol):
    # Whether `now` reads the machine's real time (and so may be compared with another clock's: app/clock_skew.py),
    # not an instant someone chose (LLMTRADE_NOW, a backtest's step).
    real: bool

    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    real = True

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    real = False

    def __init__(self, instant: datetime):
        if instant.utcoffset() is None:
            raise ValueError("a fixed clock needs a timezone-aware instant")
        # In UTC, as the system clock's: LLMTRADE_NOW given in New York time had status say its "as of" at -05:00
        # above runs stamped +00:00 (a trial read the two as different instants).
        self._instant = instant.astimezone(UTC)

    def now(self) -> datetime:
        return self._instant


class SteppingClock:
    """A clock a backtest moves by hand: `now()` is the instant last set, until `set` moves it again.

    Time only moves forward (ValueError otherwise): a backtest replays the schedule in order, and an
    event stamped earlier than the one before it would break the books' time order."""

    real = False

    def __init__(self, instant: datetime):
        if instant.utcoffset() is None:
            raise ValueError("a stepping clock needs a timezone-aware instant")
        self._instant = instant

    def now(self) -> datetime:
        return self._instant

    def set(self, instant: datetime) -> None:
        if instant.utcoffset() is None:
            raise ValueError("a stepping clock needs a timezone-aware instant")
        if instant < self._instant:
            raise ValueError(
                f"a stepping clock only moves forward: {instant.isoformat()} < {self._instant.isoformat()}"
            )
        self._instant = instant


def make_clock(fixed: datetime | None) -> Clock:
    return FixedClock(fixed) if fixed is not None else SystemClock()
