"""What a look at an account worked out, kept for the event store it was worked out against."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable, Sequence
from typing import Generic, TypeVar

from llmtrade.storage.event_store import EventStore

V = TypeVar("V")


class PerStore(Generic[V]):
    """Values by key, for one store at a time: the last one a value was kept for (held weakly). A process works
    against one store (a backtest's held store, a command's), and a value worked out against one store (its
    events, a draft's own appends) says nothing about another, which starts afresh. A weak mapping keyed by the
    store made a weak reference at every lookup; this one asks whether the store is still the same."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._store: weakref.ref[EventStore] | None = None
        self._kept: dict[Hashable, V] = {}

    def get(self, events: EventStore, key: Hashable) -> V | None:
        with self._lock:
            if self._store is None or self._store() is not events:
                return None
            return self._kept.get(key)

    def put(self, events: EventStore, key: Hashable, value: V) -> None:
        with self._lock:
            if self._store is None or self._store() is not events:
                self._store, self._kept = weakref.ref(events), {}
            self._kept[key] = value

    def pop(self, events: EventStore, key: Hashable) -> None:
        with self._lock:
            if self._store is not None and self._store() is events:
                self._kept.pop(key, None)


class RunNotes:
    """Lines a run recorded something for, kept in this process for the run to say (a warning each) once its job is
    done: by run id, for one store at a time (PerStore). Accounts record on threads of their own, so adding reads and
    writes under one lock; a run that recorded nothing reads nothing from the database for asking."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: PerStore[tuple[str, ...]] = PerStore()

    def add(self, events: EventStore, run_id: str | None, lines: Sequence[str]) -> None:
        """Keep `lines` for run `run_id` (nothing kept without a run id, or with no line)."""
        if run_id is None or not lines:
            return
        with self._lock:
            self._kept.put(events, run_id, (*(self._kept.get(events, run_id) or ()), *lines))

    def said(self, events: EventStore, run_id: str) -> list[str]:
        """Every line kept for run `run_id`, in order."""
        with self._lock:
            return list(self._kept.get(events, run_id) or ())
