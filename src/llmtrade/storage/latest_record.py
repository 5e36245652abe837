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
