"""The live database's connection a command closes last, handed over to the step after the command (the
metrics, commands/metrics.py) instead of closed: that step then neither locates the database again (for the
embedded server: a look at its process and an admin connection) nor pays for a new connection (a server
process forked, authentication).

Off unless a command line turned it on for one command (`enable` ... `finish`): a library caller, a test or a
sweep worker closing a Storage closes its connection as before, so nothing keeps a database busy (a test's
DROP DATABASE) behind its back. No imports: the command line turns it on before anything heavy is loaded.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

_lock = threading.Lock()
_enabled = False
_parked: psycopg.Connection | None = None


def enable() -> None:
    """From now until `finish`, `park` keeps the last live connection instead of closing it."""
    global _enabled
    with _lock:
        _enabled = True


def park(conn: psycopg.Connection) -> bool:
    """Keep `conn` (idle, autocommit, to the live database) for `take`, closing the one kept before; False,
    and `conn` untouched, when hand-over is off or `conn` is not reusable as it is (the caller closes it)."""
    global _parked
    from psycopg import pq  # already imported: `conn` is a psycopg connection

    if conn.closed or not conn.autocommit or conn.info.transaction_status != pq.TransactionStatus.IDLE:
        return False
    with _lock:
        if not _enabled:
            return False
        previous, _parked = _parked, conn
    if previous is not None and previous is not conn:
        previous.close()
    return True


def take() -> psycopg.Connection | None:
    """The kept connection, now the caller's to close; None when there is none or it was closed since."""
    global _parked
    with _lock:
        conn, _parked = _parked, None
    return conn if conn is not None and not conn.closed else None


def finish() -> None:
    """Hand-over off; a connection still kept is closed."""
    global _enabled
    with _lock:
        _enabled = False
    conn = take()
    if conn is not None:
        conn.close()
