"""A background thread that runs one write at a time on a connection of its own (storage/sole_writer.py's
`flush_behind`): PostgreSQL parses, indexes and commits a backtest's week of events on the second core while
this process computes the next week, instead of this process waiting for it.

The caller owns ordering: `start` one write, `wait` for it (its failure raised there) before anything that
must see its rows, and before the next `start` (a write never overtakes the one before it)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg


class WriteBehind:
    """`connect` opens the thread's connection (autocommit; opened at the first write, reopened if closed)."""

    def __init__(self, connect: Callable[[], psycopg.Connection]):
        self._connect = connect
        self._conn: psycopg.Connection | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmtrade-write-behind")
        self._last: Future[None] | None = None

    def start(self, write: Callable[[psycopg.Connection], None]) -> None:
        """Run `write(connection)` on the thread and return at once; the previous write must have been waited for."""
        if self._last is not None:
            raise RuntimeError("WriteBehind.start before the previous write was waited for")
        self._last = self._pool.submit(self._run, write)

    def busy(self) -> bool:
        """Whether a write was started and not waited for yet."""
        return self._last is not None

    def wait(self) -> None:
        """Block until the write started last has finished; raises what it raised (once: a second wait returns)."""
        last, self._last = self._last, None
        if last is not None:
            last.result()

    def close(self) -> None:
        """Wait for the last write (its failure, if any, is the caller's to have seen: dropped here) and close."""
        with suppress(BaseException):
            self.wait()
        self._pool.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self, write: Callable[[psycopg.Connection], None]) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        write(self._conn)
