"""When the books were last written: the latest `occurred_at` among events of some types."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg


def latest_record(conn: psycopg.Connection, types: Sequence[str]) -> datetime | None:
    """The latest time an event of one of `types` was recorded, or None when there is none. By type, not over every
    event: the (type, txid) index (migration 0010) finds a few types' rows without reading the whole table, which a
    command asking this before every wake-up's work would do every few minutes."""
    row = conn.execute("SELECT max(occurred_at) FROM events WHERE type = ANY(%s)", (list(types),)).fetchone()
    return row[0] if row else None


def stream_head(conn: psycopg.Connection, stream: str) -> tuple[int, datetime] | None:
    """The version and time of `stream`'s last event, or None for a stream with none: by the (stream, version) index,
    not the whole stream read for its last event (a stream a command appends to every few hours grows for good)."""
    row = conn.execute(
        "SELECT version, occurred_at FROM events WHERE stream = %s ORDER BY version DESC LIMIT 1", (stream,)
    ).fetchone()
    return (int(row[0]), row[1]) if row else None
