"""The lock a backtest holds on its own database while it runs: one process writes its books at a time.

A session advisory lock (storage/bulk_load.py SOLE_WRITER, which also keeps the memory's deferred index builds to its
holder). `take` is the backtest's (app/backtest_container.py `held`: not taken, the backtest exits 75); `held_elsewhere`
is a reader's, which tries it without waiting and lets it go at once: the leaderboard of a backtest running in another
process says it is running, not "run the same command again to resume it" (which would meet the lock)."""

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
    """Whether another session holds the lock (a backtest running in another process). Tried without waiting and
    released at once when taken: a backtest starting meanwhile is kept waiting for no more than the round trip (it
    would then exit 75, and its rerun goes on). The lock is re-entrant: the backtest's own session is not another."""
    if not take(conn):
        return True
    conn.execute("SELECT pg_advisory_unlock(%s)", (SOLE_WRITER,))
    return False
