"""Reads that see the database at one instant: a command that reads books another process may be writing (a backtest
running, a run-due) judges all its figures on one state of them.

A trial polled `leaderboard --backtest NAME` while the backtest ran: its fills and runs were read, then its record,
each statement seeing whatever was committed when it ran, so a week committed between them made the figures end a week
before the record said (a board read as finished while its figures stopped short; "12 of 13 weeks done" over figures
holding 11). A week of a backtest is committed whole (storage/sole_writer.py), so one snapshot sees it all or none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from psycopg import IsolationLevel
from psycopg.pq import TransactionStatus

if TYPE_CHECKING:
    import psycopg


@contextmanager
def one_snapshot(conn: psycopg.Connection, wanted: bool = True) -> Iterator[None]:
    """Every statement `conn` runs in the block sees the database as of the block's first (PostgreSQL's REPEATABLE
    READ: one snapshot for the transaction; https://www.postgresql.org/docs/current/transaction-iso.html). Nothing is
    made read only: a write in the block is made as ever, at the block's end. A connection already inside a
    transaction is left to it, and so is every one when not `wanted`."""
    if not wanted or conn.info.transaction_status != TransactionStatus.IDLE:
        yield
        return
    level = conn.isolation_level
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            yield
    finally:
        if conn.info.transaction_status == TransactionStatus.IDLE:  # a broken connection is left as it is
            conn.isolation_level = level
