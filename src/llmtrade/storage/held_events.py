"""An in-process copy's events (storage/event_copies.py): oldest first, by type and by week."""

from __future__ import annotations

import heapq
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date

from llmtrade.domain.events import StoredEvent


@dataclass
class Held:
    """Events as last read, oldest first, and the same events by type.

    For a counted copy: `types` are the types it holds (None: every type), `top` the highest id it has
    seen (held, or fed by the sole writer), and `horizon` the snapshot xmin of its last read from
    PostgreSQL (None: never read), below which every transaction had finished then."""

    events: list[StoredEvent] = field(default_factory=list)
    by_type: dict[str, list[StoredEvent]] = field(default_factory=dict)
    types: frozenset[str] | None = None
    top: int = 0
    horizon: int | None = None
    # Whether a sole writer fed it events since it was last read from PostgreSQL (they may be unwritten yet).
    fed: bool = False

    # The same events by week: a read of one week's costs that week, not the history.
    by_week: dict[date | None, list[StoredEvent]] = field(default_factory=dict)

    def add(self, event: StoredEvent) -> None:
        self.events.append(event)
        self.by_type.setdefault(event.type, []).append(event)
        self.by_week.setdefault(event.week_id, []).append(event)

    def merge(self, added: list[StoredEvent], types: frozenset[str]) -> None:
        """Hold `types` too, whose events (ids ascending) are `added`: merged in id order, so the lists of the types
        held already (and the folds kept over them) stay as they were."""
        self.types = None if self.types is None else self.types | types
        for event in added:
            self.by_type.setdefault(event.type, []).append(event)
        if not added:
            return
        self.events = list(heapq.merge(self.events, added, key=lambda e: e.id))
        weeks: dict[date | None, list[StoredEvent]] = {}
        for event in added:
            weeks.setdefault(event.week_id, []).append(event)
        for week, events in weeks.items():
            self.by_week[week] = list(heapq.merge(self.by_week.get(week, []), events, key=lambda e: e.id))

    def holds(self, event: StoredEvent) -> bool:
        """Whether this copy (ids ascending) holds `event` (the same id, stream and version)."""
        at = bisect_right(self.events, event.id, key=lambda e: e.id)
        if at == 0:
            return False
        kept = self.events[at - 1]
        return kept.id == event.id and kept.stream == event.stream and kept.version == event.version


def after(events: list[StoredEvent], after_id: int | None) -> list[StoredEvent]:
    """The events (ascending ids) after `after_id`: a bisect, so a look for what is new costs what is new."""
    if after_id is None:
        return events
    return events[bisect_right(events, after_id, key=lambda e: e.id) :]
