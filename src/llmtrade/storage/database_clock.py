"""The database server's own clock: the witness the system clock is checked against (app/clock_skew.py)."""

from __future__ import annotations

from datetime import datetime

import psycopg


def database_now(conn: psycopg.Connection) -> datetime:
    """The server's time as this statement runs: clock_timestamp(), not now(), which is its transaction's start and
    would read early inside a transaction left open."""
    row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]
