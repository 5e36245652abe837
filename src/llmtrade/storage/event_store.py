"""The append-only event store (DESIGN.md section 5).

Appends of one batch go in one transaction. Each stream's versions are dense and start at 1;
(stream, version) is unique in the table, so two writers racing on a stream cannot both win:
the loser gets a ConcurrencyError instead of a silently interleaved history.

Reads of one account's events (the paper book, reconciliation, fills, the breaker: several per stage,
each over the account's whole history) are served from an in-process copy of that account's events,
brought up to date on every read by asking PostgreSQL only for what is newer, so a look costs the new
events, not the history. Every read still asks the database, so another process's appends are seen.
Ids come from a sequence, and a transaction can commit a lower id after a higher one is visible; the
same statement therefore counts the account's events, and a count that does not match the copy plus
what is newer (an id committed late) reloads the copy whole. The table is append-only (a trigger
refuses UPDATE, DELETE and TRUNCATE), so a count can only grow. Reads of one stream (a breaker, the
kill switch) are kept the same way by version: a stream's versions become visible densely and in
order (a writer of version n+1 read n committed), so what is newer is all there is to ask for.
Only what was read outside a transaction is kept: inside one, a read may see rows a rollback undoes.
The copies belong to the process, per database (server, name and the database's oid, so a database
dropped and made again is a new one): every job a drill or a backtest runs opens its own store, and
each would otherwise read the whole history again.
"""

from __future__ import annotations

import heapq
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from llmtrade.clock import Clock
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.errors import ConcurrencyError

if TYPE_CHECKING:
    import psycopg

_DUPLICATE_KEY = re.compile(r"\(stream, version\)=\((.*), (\d+)\)")
# Each lost race on a stream's head means another writer appended; this many in a row is a livelock.
_HEAD_ATTEMPTS = 20
_COLUMNS = "id, type, stream, version, week_id, account_id, run_id, occurred_at, payload, schema_version"


@dataclass
class _Held:
    """Events of one account or stream as last read, oldest first, and the same events by type."""

    events: list[StoredEvent] = field(default_factory=list)
    by_type: dict[str, list[StoredEvent]] = field(default_factory=dict)

    def add(self, event: StoredEvent) -> None:
        self.events.append(event)
        self.by_type.setdefault(event.type, []).append(event)

    @property
    def last_id(self) -> int:
        return self.events[-1].id if self.events else 0


@dataclass
class _Copies:
    """What one database's stores in this process have read, shared by them under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    accounts: dict[str, _Held] = field(default_factory=dict)
    streams: dict[str, _Held] = field(default_factory=dict)


_COPIES: dict[tuple[object, ...], _Copies] = {}
_COPIES_LOCK = threading.Lock()


class EventStore:
    def __init__(self, conn: psycopg.Connection, clock: Clock):
        self._conn = conn
        self._clock = clock
        # One connection serves every thread of a command (accounts execute in parallel); a lock
        # keeps each append's transaction whole instead of interleaving statements from two threads.
        self._lock = threading.RLock()
        self._held: _Copies | None = None

    def append(
        self, events: Sequence[NewEvent], *, expected_versions: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        """Append a batch atomically.

        Without an expected version a stream's events go after its current head, whatever it is by
        then: a writer in another process that takes the head first (the shared `market` stream,
        the kill switch) makes this one append after it, not fail. With one, the append fails with
        ConcurrencyError unless the stream is still at exactly that version.
        """
        if not events:
            return []
        expected = dict(expected_versions or {})
        for _ in range(_HEAD_ATTEMPTS - 1):
            try:
                return self._append_once(events, expected)
            except ConcurrencyError as exc:
                if exc.stream in expected:
                    raise  # the caller asked for that version: losing it is the answer
        return self._append_once(events, expected)

    def _append_once(self, events: Sequence[NewEvent], expected: Mapping[str, int]) -> list[StoredEvent]:
        import psycopg.errors  # lazy: keeps `llmtrade --help` free of psycopg
        from psycopg.types.json import Jsonb

        occurred_at = self._clock.now()
        stored: list[StoredEvent] = []
        next_version: dict[str, int] = {}
        try:
            with self._lock, self._conn.transaction():
                for event in events:
                    if event.stream not in next_version:
                        head = self.stream_version(event.stream)
                        want = expected.get(event.stream, head)
                        if head != want:
                            raise ConcurrencyError(event.stream, want + 1)
                        next_version[event.stream] = head + 1
                    version = next_version[event.stream]
                    next_version[event.stream] = version + 1
                    row = self._conn.execute(
                        f"""INSERT INTO events (type, stream, version, week_id, account_id, run_id,
                                                occurred_at, payload, schema_version)
                            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                            RETURNING {_COLUMNS}""",
                        (
                            event.type,
                            event.stream,
                            version,
                            event.week_id,
                            event.account_id,
                            event.run_id,
                            occurred_at,
                            Jsonb(event.payload),
                            event.schema_version,
                        ),
                    ).fetchone()
                    stored.append(_to_event(row))
        except psycopg.errors.UniqueViolation as exc:
            # A writer committed between our head read and our insert.
            match = _DUPLICATE_KEY.search(exc.diag.message_detail or "")
            if match is None:
                raise
            raise ConcurrencyError(match.group(1), int(match.group(2))) from exc
        return stored

    def stream_version(self, stream: str) -> int:
        """The version of the stream's last event; 0 for a stream with no events."""
        row = self._conn.execute("SELECT coalesce(max(version), 0) FROM events WHERE stream = %s", (stream,)).fetchone()
        return int(row[0]) if row else 0

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
        """Events matching every given filter, oldest first."""
        with self._lock:
            if (account_id is not None or stream is not None) and self._settled():
                copies = self._copies()
                with copies.lock:
                    if account_id is not None:
                        held = self._refreshed(copies, account_id)
                        return _matching(held, week_id, run_id, type, stream, after_id, limit)
                    held = self._stream_refreshed(copies, stream)  # type: ignore[arg-type]  # not None here
                    return _matching(held, week_id, run_id, type, None, after_id, limit)
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("week_id", week_id),
            ("run_id", run_id),
            ("account_id", account_id),
            ("stream", stream),
        ):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        if type is not None:
            types = [type] if isinstance(type, str) else list(type)
            where.append("type = ANY(%s)")
            params.append(types)
        if after_id is not None:
            where.append("id > %s")
            params.append(after_id)
        sql = f"SELECT {_COLUMNS} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [_to_event(row) for row in rows]

    def read_stream(self, stream: str) -> list[StoredEvent]:
        return self.read(stream=stream)

    def _settled(self) -> bool:
        """Whether the connection is outside a transaction, so every row a read sees is committed."""
        from psycopg.pq import TransactionStatus  # lazy, as psycopg is everywhere here

        return self._conn.info.transaction_status is TransactionStatus.IDLE

    def _copies(self) -> _Copies:
        if self._held is None:
            row = self._conn.execute(
                "SELECT oid, pg_postmaster_start_time() FROM pg_database WHERE datname = current_database()"
            ).fetchone()
            info = self._conn.info
            key = (info.host, info.port, info.dbname, *(row or ()))
            with _COPIES_LOCK:
                self._held = _COPIES.setdefault(key, _Copies())
        return self._held

    def _refreshed(self, copies: _Copies, account_id: str) -> _Held:
        """The account's events, brought up to date in one statement (one snapshot): the count of all of
        them and those newer than the last one held. A count that disagrees reloads them whole."""
        known = copies.accounts.get(account_id) or _Held()
        rows = self._conn.execute(
            f"""SELECT n.total, e.* FROM (SELECT count(*) AS total FROM events WHERE account_id = %s) n
                LEFT JOIN LATERAL (SELECT {_COLUMNS} FROM events WHERE account_id = %s AND id > %s) e ON true
                ORDER BY e.id""",
            (account_id, account_id, known.last_id),
        ).fetchall()
        total = int(rows[0][0])
        newer = [_to_event(row[1:]) for row in rows if row[1] is not None]
        if known.events and len(known.events) + len(newer) != total:
            copies.accounts.pop(account_id, None)
            return self._refreshed(copies, account_id)  # holds nothing now, so it cannot come back here
        for event in newer:
            known.add(event)
        copies.accounts[account_id] = known
        return known

    def _stream_refreshed(self, copies: _Copies, stream: str) -> _Held:
        """The stream's events, brought up to date with the versions after the last one held."""
        known = copies.streams.get(stream) or _Held()
        last = known.events[-1].version if known.events else 0
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE stream = %s AND version > %s ORDER BY version", (stream, last)
        ).fetchall()
        for row in rows:
            event = _to_event(row)
            if event.version != last + 1:
                # Not the next version: never expected (versions are dense), so trust nothing held.
                copies.streams.pop(stream, None)
                return self._uncached_stream(stream)
            known.add(event)
            last = event.version
        copies.streams[stream] = known
        return known

    def _uncached_stream(self, stream: str) -> _Held:
        held = _Held()
        for row in self._conn.execute(f"SELECT {_COLUMNS} FROM events WHERE stream = %s ORDER BY id", (stream,)):
            held.add(_to_event(row))
        return held

    def count(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0

    def draft(self) -> DraftEventStore:
        """A view of this store whose appends stay in memory: for dry runs and read-only commands.

        The code under it runs exactly as it would for real (it reads back what it appended, streams
        keep their versions), but nothing reaches the database."""
        return DraftEventStore(self._conn, self._clock)


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

    def stream_version(self, stream: str) -> int:
        mine = [e.version for e in self._pending if e.stream == stream]
        return max(mine) if mine else super().stream_version(stream)

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

    def count(self) -> int:
        return super().count() + len(self._pending)


def _matching(
    held: _Held,
    week_id: date | None,
    run_id: str | None,
    type: str | Iterable[str] | None,
    stream: str | None,
    after_id: int | None,
    limit: int | None,
) -> list[StoredEvent]:
    """The held events that pass every filter, oldest first."""
    if type is None:
        candidates: Iterable[StoredEvent] = held.events
    else:
        types = [type] if isinstance(type, str) else list(dict.fromkeys(type))
        lists = [held.by_type.get(t, []) for t in types]
        candidates = lists[0] if len(lists) == 1 else heapq.merge(*lists, key=lambda e: e.id)
    found: list[StoredEvent] = []
    for event in candidates:
        if (
            (week_id is None or event.week_id == week_id)
            and (run_id is None or event.run_id == run_id)
            and (stream is None or event.stream == stream)
            and (after_id is None or event.id > after_id)
        ):
            found.append(event)
            if limit is not None and len(found) >= limit:
                break
    return found


def _to_event(row: Any) -> StoredEvent:
    id_, type_, stream, version, week_id, account_id, run_id, occurred_at, payload, schema_version = row
    return StoredEvent(
        id=id_,
        type=type_,
        stream=stream,
        version=version,
        week_id=week_id,
        account_id=account_id,
        run_id=run_id,
        occurred_at=occurred_at,
        payload=payload,
        schema_version=schema_version,
    )
