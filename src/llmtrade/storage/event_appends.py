"""One append written at once, for a store that writes at append (storage/event_store.py; not a sole writer's).

Contract: the batch goes in atomically after each stream's head (or at exactly the expected version), by the
cheapest statement the connection's state allows; a lost race on a (stream, version) is a ConcurrencyError naming
the stream and version, and an id a sole writer already used is IdTaken (the caller tries again).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.errors import ConcurrencyError
from llmtrade.storage.event_inserts import MANY_AT_ONCE, inserted, inserted_at_head, inserted_at_once, new_rows
from llmtrade.storage.sole_writer import first_versions

if TYPE_CHECKING:
    import psycopg

_DUPLICATE_KEY = re.compile(r"\(stream, version\)=\((.*), (\d+)\)")


class IdTaken(Exception):
    """An insert drew an id another writer had already given its own event."""


def settled(conn: psycopg.Connection) -> bool:
    """Whether the connection is outside a transaction, so every row a read sees is committed."""
    from psycopg.pq import TransactionStatus  # lazy, as psycopg is everywhere here

    return conn.info.transaction_status is TransactionStatus.IDLE


def append_once(
    conn: psycopg.Connection,
    lock: threading.RLock,
    events: Sequence[NewEvent],
    expected: Mapping[str, int],
    occurred_at: datetime,
    head: Callable[[str], int],
) -> list[StoredEvent]:
    """The batch appended under `lock` on `conn`, after each stream's head as `head` reads it (the store's own
    `stream_version`) unless `expected` names its version."""
    import psycopg.errors  # lazy: keeps `llmtrade --help` free of psycopg

    def rows() -> list[tuple[Any, ...]]:
        return new_rows(events, first_versions(events, expected, head), occurred_at)

    streams = {event.stream for event in events}
    try:
        with lock:
            if conn.autocommit and settled(conn) and len(streams) == 1 and len(events) <= MANY_AT_ONCE:
                # One stream (a stage's events, an order, a ledger entry): one statement reads the head and
                # inserts after it, atomic by itself, one round trip where BEGIN, the head read, the insert and
                # COMMIT made four (a run appends some hundred times, many between two model calls or inside
                # execution). A writer taking the head under it is caught by the (stream, version) key.
                (stream,) = streams
                at_head = inserted_at_head(conn, stream, events, expected.get(stream), occurred_at)
                if at_head is None:
                    raise ConcurrencyError(stream, expected[stream] + 1)
                stored = at_head
            elif conn.autocommit and settled(conn):
                # Outside a transaction the batch is one INSERT statement, atomic by itself: the heads read
                # and the insert are two round trips, not four. The heads are read at READ COMMITTED either
                # way, so a writer taking a head between the two is still caught by the key, as before.
                stored = inserted_at_once(conn, rows())
            else:
                with conn.transaction():  # inside a caller's transaction: a savepoint, as it always was
                    stored = inserted(conn, rows())
    except psycopg.errors.UniqueViolation as exc:
        # A writer committed between our head read and our insert.
        if exc.diag.constraint_name == "events_pkey":
            # A sole writer (storage/sole_writer.py) numbers its events itself and moves the id sequence
            # past them when it commits: the id this insert drew was one of those.
            raise IdTaken from exc
        match = _DUPLICATE_KEY.search(exc.diag.message_detail or "")
        if match is None:
            raise
        raise ConcurrencyError(match.group(1), int(match.group(2))) from exc
    return stored
