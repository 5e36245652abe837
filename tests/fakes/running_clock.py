"""The machine's clock as a live command reads it (Clock.real), started at a chosen session instant and moving with the
wall from there, which a test may move on by hand (`advance`) to stand for a run that took minutes."""

from __future__ import annotations

import time as wall
from datetime import datetime, timedelta


class RunningClock:
    real = True

    def __init__(self, start: datetime) -> None:
        self._start, self._t0 = start, wall.perf_counter()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=wall.perf_counter() - self._t0)

    def advance(self, by: timedelta) -> None:
        """Time gone by at once: what a slow model, a retried provider or a long run spend."""
        self._start += by
