"""The one clock every command reads.

Real time in production; a fixed instant from LLMTRADE_NOW for tests, drills and replays, so
that "what is due now" and "which week is this" are reproducible.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    def __init__(self, instant: datetime):
        if instant.utcoffset() is None:
            raise ValueError("a fixed clock needs a timezone-aware instant")
        self._instant = instant

    def now(self) -> datetime:
        return self._instant


def make_clock(fixed: datetime | None) -> Clock:
    return FixedClock(fixed) if fixed is not None else SystemClock()
