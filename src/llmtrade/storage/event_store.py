"""The append-only event store (DESIGN.md section 5).

Appends of one batch go in one transaction. Each stream's versions are dense and start at 1;
(stream, version) is unique in the table, so two writers racing on a stream cannot both win:
the loser gets a ConcurrencyError instead of a silently interleaved history.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from llmtrade.clock import Clock
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.errors import ConcurrencyError

if TYPE_CHECKING:
    import psycopg

_DUPLICATE_KEY = re.compile(r"\(stream, version\)=\((.*), (\d+)\)")
_COLUMNS = "id, type, stream, version, week_id, account_id, run_id, occurred_at, payload, schema_version"


class EventStore:
    def __init__(self, conn: psycopg.Connection, clock: Clock):
        self._conn = conn
        self._clock = clock
        # One connection serves every thread of a command (accounts execute in parallel); a lock
        # keeps each append's transaction whole instead of interleaving statements from two threads.
        self._lock = threading.RLock()

    def append(
        self, events: Sequence[NewEvent], *, expected_versions: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        """Append a batch atomically.

        Without an expected version a stream's events go after its current head. With one, the
        append fails with ConcurrencyError unless the stream is still at exactly that version.
        """
        if not events:
            return []
        import psycopg.errors  # lazy: keeps `llmtrade --help` free of psycopg
        from psycopg.types.json import Jsonb

        expected = dict(expected_versions or {})
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

    def count(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0


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
