"""Event sinks for tests, each keeping the whole EventSink contract (domain/events.py; tests/test_event_sinks.py
runs it against them): one that keeps its appends in a list, and one that passes a real store's contract through
for a test that watches, slows or breaks its appends."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from llmtrade.domain.events import EventSink, NewEvent


class ListSink:
    """Appends kept in `events`, in order; written at append, so nothing is held and there is nothing to flush."""

    stage_timings = True

    def __init__(self) -> None:
        self.events: list[NewEvent] = []

    def append(self, events: Sequence[NewEvent]) -> object:
        self.events.extend(events)
        return list(events)

    @property
    def holds_appends(self) -> bool:
        return False

    def flush(self) -> None:
        return None

    def writing(self) -> AbstractContextManager[object]:
        return contextlib.nullcontext()


class SinkOver:
    """A real sink's contract passed through; a subclass changes `append` (counts, slows, breaks it)."""

    def __init__(self, events: EventSink):
        self.events = events

    @property
    def stage_timings(self) -> bool:
        return self.events.stage_timings

    def append(self, events: Sequence[NewEvent], **kw: Any) -> object:
        return self.events.append(events, **kw)  # type: ignore[call-arg]

    @property
    def holds_appends(self) -> bool:
        return self.events.holds_appends

    def flush(self) -> None:
        self.events.flush()

    def writing(self) -> AbstractContextManager[object]:
        return self.events.writing()
