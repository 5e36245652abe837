"""A view of an event store whose appends stay in this process (EventStore.draft): dry runs and read-only
commands run their code exactly as for real, reading back what they appended, and nothing reaches the database."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, TypeVar

from llmtrade.clock import Clock
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.errors import ConcurrencyError
from llmtrade.storage.event_store import EventStore

if TYPE_CHECKING:
    import psycopg

S = TypeVar("S")


class DraftEventStore(EventStore):
    """Reads see the stored events plus this view's own appends; appends never leave the process."""

    def __init__(self, conn: psycopg.Connection, clock: Clock):
        super().__init__(conn, clock)
        self._pending: list[StoredEvent] = []
        self._next_id: int | None = None

    def append(
        self, events: Sequence[NewEvent], *, expected_versions: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        if not events:
            return []
        expected = dict(expected_versions or {})
        occurred_at = self._clock.now()
        with self._lock:
            if self._next_id is None and self._writer is not None:
                self._next_id = self._writer.next_id()
            if self._next_id is None:
                # Draft ids follow the stored ones, so "oldest first" still holds across both.
                row = self._conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
                self._next_id = (int(row[0]) if row else 0) + 1
            next_version: dict[str, int] = {}
            batch: list[StoredEvent] = []
            for event in events:
                if event.stream not in next_version:
                    head = self.stream_version(event.stream)
                    want = expected.get(event.stream, head)
                    if head != want:
                        raise ConcurrencyError(event.stream, want + 1)
                    next_version[event.stream] = head + 1
                version = next_version[event.stream]
                next_version[event.stream] = version + 1
                batch.append(
                    StoredEvent(
                        id=self._next_id + len(batch),
                        type=event.type,
                        stream=event.stream,
                        version=version,
                        week_id=event.week_id,
                        account_id=event.account_id,
                        run_id=event.run_id,
                        occurred_at=occurred_at,
                        payload=event.payload,
                        schema_version=event.schema_version,
                    )
                )
            self._next_id += len(batch)
            self._pending.extend(batch)
        return batch

    def appended(self) -> list[StoredEvent]:
        """This view's own appends, oldest first (none of them stored)."""
        return list(self._pending)

    def stream_version(self, stream: str) -> int:
        mine = [e.version for e in self._pending if e.stream == stream]
        return max(mine) if mine else super().stream_version(stream)

    def read_stream(self, stream: str) -> list[StoredEvent]:
        return self.read(stream=stream)  # the stored events and this view's own

    def week_ids(self, type: str | Iterable[str]) -> list[date]:
        types = {type} if isinstance(type, str) else set(type)
        mine = {e.week_id for e in self._pending if e.type in types and e.week_id is not None}
        return sorted(mine.union(super().week_ids(types)))

    def read(
        self,
        *,
        week_id: date | None = None,
        run_id: str | None = None,
        type: str | Iterable[str] | None = None,
        account_id: str | None = None,
        stream: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        stored = super().read(
            week_id=week_id, run_id=run_id, type=type, account_id=account_id, stream=stream, after_id=after_id
        )
        types = None if type is None else ({type} if isinstance(type, str) else set(type))
        mine = [
            e
            for e in self._pending
            if (week_id is None or e.week_id == week_id)
            and (run_id is None or e.run_id == run_id)
            and (types is None or e.type in types)
            and (account_id is None or e.account_id == account_id)
            and (stream is None or e.stream == stream)
            and (after_id is None or e.id > after_id)
        ]
        found = stored + mine
        return found if limit is None else found[:limit]

    def fold(
        self,
        key: Hashable,
        *,
        account_id: str,
        types: Sequence[str],
        start: S,
        step: Callable[[S, list[StoredEvent]], S],
    ) -> S:
        """The stored events' memoised fold, then this view's own appends on top (kept by no one: they
        go with the draft)."""
        state = super().fold(key, account_id=account_id, types=types, start=start, step=step)
        return self._on_top(state, step, types, lambda e: e.account_id == account_id)

    def fold_stream(
        self,
        key: Hashable,
        *,
        stream: str,
        types: Sequence[str],
        start: S,
        step: Callable[[S, list[StoredEvent]], S],
    ) -> S:
        """The stored events' memoised fold of the stream, then this view's own appends on top, as `fold`."""
        state = super().fold_stream(key, stream=stream, types=types, start=start, step=step)
        return self._on_top(state, step, types, lambda e: e.stream == stream)

    def _on_top(
        self,
        state: S,
        step: Callable[[S, list[StoredEvent]], S],
        types: Sequence[str],
        belongs: Callable[[StoredEvent], bool],
    ) -> S:
        """`state` stepped over this view's own appends of `types` that `belongs` picks (none: `state` itself)."""
        wanted = set(types)
        with self._lock:
            mine = [e for e in self._pending if belongs(e) and e.type in wanted]
        return step(state, mine) if mine else state

    def count(self) -> int:
        return super().count() + len(self._pending)
