"""A sole writer's flushes run behind: on a connection of the writer's own, by one thread, one at a time, in the
order handed over (storage/sole_writer.py `flush_behind`: a backtest's week).

PostgreSQL does the work of a flush on the other core, and a thread waiting on its socket releases the GIL, so the
backtest computes meanwhile (the flush's own Python work, formatting its COPY rows, still takes the GIL in turn). A
psycopg connection must not serve two threads' statements at once (their transactions would interleave), so these
writes have their own. The caller's reads are not made to wait: the event store's go through its copies, which hold
a flush's events until it commits (storage/event_copies.py `Sole.held`), and a read the copies cannot answer flushes
first, which waits for everything handed over.

The first write that fails fails the writer: every later write is skipped, and every wait raises the failure
(the backtest's next week-end flush at the latest), so a caller that catches an error to retry cannot lose it.
A task runs exactly once, on the writer's thread, or on the waiting one when that has not begun it (a Ctrl-C before
it was queued): whoever claims it first.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg


class Task:
    """One write handed over: `write(conn)` after the task before it; `error` is what it (or one before) raised."""

    def __init__(self, write: Callable[[psycopg.Connection], None], conn: psycopg.Connection, before: Task | None):
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._write, self._conn, self._before = write, conn, before
        self._claim = threading.Lock()

    def finish(self) -> None:
        """Wait for this task (and so every one before it); run it here if the writer's thread has not begun it."""
        if self._claim.acquire(blocking=False):
            self._run()
        else:
            self.done.wait()

    def claimed(self) -> None:
        """Run it, unless the waiting thread has already begun it."""
        if self._claim.acquire(blocking=False):
            self._run()

    def _run(self) -> None:
        try:
            before, self._before = self._before, None  # not kept: the chain would hold every week's events
            if before is not None:
                before.finish()
                if before.error is not None:
                    self.error = before.error  # not written: the writer failed with an earlier write
                    return
            self._write(self._conn)
        except BaseException as exc:  # raised in the writer's thread by the next wait
            self.error = exc
        finally:
            self.done.set()


class Behind:
    """The writer's own connection (opened by `connect` on first use) and the writes handed to it."""

    def __init__(self, connect: Callable[[], psycopg.Connection]):
        self._connect = connect
        self._conn: psycopg.Connection | None = None
        # The last task handed over (finishing it finishes every one before it).
        self.last: Task | None = None
        self.failed: BaseException | None = None
        # The writer's one thread, started on the first write, and what it is handed (None: stop). One thread for
        # every write: starting one per write cost ~2.5 ms of the caller's wall each (the new thread ran first).
        self._queue: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def hand(self, write: Callable[[psycopg.Connection], None]) -> Task:
        """Run `write(conn)` behind, after everything handed before."""
        if self._conn is None:
            self._conn = self._connect()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="sole-writer-behind", daemon=True)
            self._thread.start()
        task = Task(write, self._conn, self.last)
        # Known before it is queued (one step, no interrupt between): a Ctrl-C before `put` leaves it to be
        # finished (run here) by the next wait, never lost.
        self.last = task
        self._queue.put(task)
        return task

    def _work(self) -> None:
        while (task := self._queue.get()) is not None:
            task.claimed()

    def finish(self) -> BaseException | None:
        """Wait for everything handed over; the writer's failure (the first write's that failed), if any."""
        last = self.last
        if last is not None:
            last.finish()  # an interrupt here (Ctrl-C) leaves it handed over: the next wait finishes it
            self.last = None
            if last.error is not None and self.failed is None:
                self.failed = last.error
        return self.failed

    def close(self) -> None:
        """Wait for everything handed over (a failure is not raised here) and close the connection."""
        self.finish()
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
