"""An in-process copy's events (storage/event_copies.py): oldest first, by type and by week."""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from itertools import islice

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
    # Counts every change to the lists (add, merge): a fold kept at one count is current while it holds.
    changes: int = 0

    def add(self, event: StoredEvent) -> None:
        self.changes += 1
        self.events.append(event)
        self.by_type.setdefault(event.type, []).append(event)
        self.by_week.setdefault(event.week_id, []).append(event)

    def merge(self, added: list[StoredEvent], types: frozenset[str]) -> None:
        """Hold `types` too, whose events (ids ascending) are `added`: merged in id order, so the lists of the types
        held already (and the folds kept over them) stay as they were."""
        self.changes += 1
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


def matching(
    held: Held,
    *,
    week_id: date | None,
    run_id: str | None,
    type: str | Iterable[str] | None,
    account_id: str | None,
    stream: str | None,
    after_id: int | None,
    limit: int | None,
) -> list[StoredEvent]:
    """The held events that pass every filter, oldest first. A filter the copy implies (its stream, its account)
    is best left None: a read that narrows nothing further is a slice of a list, not a test of every event."""
    types = None if type is None else [type] if isinstance(type, str) else list(dict.fromkeys(type))
    candidates: Iterable[StoredEvent]
    # A week's events, or the types' events, whichever are fewer to filter: a week's copy holds hundreds of events (its
    # model calls) and a score of runs, which every job's mode check (workflows/weekly.py `week_mode`) asks for.
    if week_id is not None and (
        types is None or sum(len(held.by_type.get(t, ())) for t in types) > len(held.by_week.get(week_id, ()))
    ):
        # The week's events are few, whatever the history: filter those rather than a type's history.
        candidates = held.by_week.get(week_id, [])
        if types is not None:
            wanted = set(types)
            candidates = [e for e in candidates if e.type in wanted]
        week_id = None  # every one is of the week
    elif types is None:
        candidates = after(held.events, after_id)
        after_id = None  # every one is after it
    else:
        # A type without events is left out: the week's runs are RunStarted alone nearly always, a list, not a merge.
        lists = [found for t in types if (found := after(held.by_type.get(t, []), after_id))]
        candidates = lists[0] if len(lists) == 1 else heapq.merge(*lists, key=lambda e: e.id)
        after_id = None
    if week_id is None and run_id is None and account_id is None and stream is None and after_id is None:
        return list(candidates if limit is None else islice(candidates, limit))
    found: list[StoredEvent] = []
    for event in candidates:
        if (
            (week_id is None or event.week_id == week_id)
            and (run_id is None or event.run_id == run_id)
            and (account_id is None or event.account_id == account_id)
            and (stream is None or event.stream == stream)
            and (after_id is None or event.id > after_id)
        ):
            found.append(event)
            if limit is not None and len(found) >= limit:
                break
    return found
