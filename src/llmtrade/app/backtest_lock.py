"""The lock a backtest holds on its own database while it runs: one process writes its books at a time.

A session advisory lock (storage/bulk_load.py SOLE_WRITER, which also keeps the memory's deferred index builds to its
holder). `take` is the backtest's (app/backtest_container.py `held`: not taken, the backtest exits 75); `held_elsewhere`
is a reader's look at it: the leaderboard of a backtest running in another process says it is running, not "run the
same command again to resume it" (which would meet the lock)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmtrade.storage.bulk_load import SOLE_WRITER

if TYPE_CHECKING:
    import psycopg


def take(conn: psycopg.Connection) -> bool:
    """Take the lock on `conn`'s session without waiting; whether it was taken (False: another session holds it)."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (SOLE_WRITER,)).fetchone()
    return bool(row and row[0])


def held_elsewhere(conn: psycopg.Connection) -> bool:
    """Whether another session holds the lock (a backtest running in another process), read from pg_locks: nothing is
    taken, so a backtest starting at that moment never finds it held by this reader (it would exit 75). A bigint key
    shows as classid (its high 32 bits), objid (its low 32) and objsubid 1 (PostgreSQL's docs, pg_locks)."""
    row = conn.execute(
        """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1)""",
        (SOLE_WRITER >> 32 & 0xFFFFFFFF, SOLE_WRITER & 0xFFFFFFFF),
    ).fetchone()
    return bool(row and row[0])
