"""A worker's test databases, made ahead and dropped behind on a thread of its own.

A test's own database costs some 60 ms of PostgreSQL's time (CREATE DATABASE ... TEMPLATE 15-40 ms, DROP ... WITH
(FORCE) 10-30 ms, the drop unlinking some 300 files on a disk mounted with `discard`), and the test waited for both:
some 2,500 tests a session. Here the next database is made while the test before it runs, and a finished test's is
dropped while the next one runs, so a test waits only when the thread is behind. Each test still gets a database of
its own, copied from the migrated template, that no other test has touched.

A CREATE or DROP DATABASE is a transaction of the server's while it runs, which holds back every snapshot's xmin: a
test asserting how many rows a refresh bounded by the last snapshot's xmin reads again is marked `quiet_server`, and
runs with nothing made or dropped meanwhile (`idle`).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import uuid
from collections.abc import Callable

import psycopg
import psycopg.errors

# How many databases are kept made ahead: one is enough (a test runs longer than a CREATE), a second covers a run
# of tests shorter than it.
_AHEAD = 2
_ATTEMPTS = 5


class DatabasesAhead:
    """Copies of `template` on the server at `admin_url`, made ahead (`take`) and dropped behind (`give_back`).

    `close` drops what is left, waiting for the drops under way, and stops the thread. An error of the thread's
    (the server gone, a template in use) is raised by the next `take`, in the test that needed the database."""

    def __init__(self, admin_url: str, template: str) -> None:
        self._admin_url = admin_url
        self._template = template
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        self._work: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._conn: psycopg.Connection | None = None
        self._thread = threading.Thread(target=self._serve, name="test-databases", daemon=True)
        self._thread.start()
        for _ in range(_AHEAD):
            self._work.put(self._make)

    def take(self) -> str:
        """The name of a new database copied from the template (made ahead, or now when none is ready yet)."""
        self._work.put(self._make)  # the one after it, made while this test runs
        got = self._ready.get()
        if isinstance(got, BaseException):
            raise got
        return got

    def give_back(self, name: str) -> None:
        """Drop `name` behind, while the next test runs (FORCE: a command a test started may still be connected)."""
        self._work.put(lambda: self._drop(name))

    def idle(self) -> None:
        """Wait until nothing is being made or dropped: a test that reads the server's oldest running transaction
        (a snapshot's xmin: storage/event_copies.py, storage/metric_totals.py) sees only its own (`quiet_server`)."""
        self._work.join()

    def close(self) -> None:
        self._work.put(None)
        self._thread.join(timeout=120)
        while not self._ready.empty():
            if isinstance(got := self._ready.get_nowait(), str):
                self._drop(got)
        self._lost()

    def _make(self) -> None:
        name = f"t_{uuid.uuid4().hex[:12]}"
        create = f'CREATE DATABASE "{name}" TEMPLATE "{self._template}" STRATEGY FILE_COPY'
        for attempt in range(_ATTEMPTS):
            try:
                self._connection().execute(create)
                break
            except psycopg.errors.ObjectInUse as exc:
                # The template's last session (its migrations, at the session's start) may still be exiting: the
                # server waits 5 s for it, then refuses; on a loaded machine that was not enough (tests/crash_points.py
                # `database`). Asked again.
                if attempt == _ATTEMPTS - 1:
                    self._ready.put(exc)
                    return
                time.sleep(1)
            except BaseException as exc:  # said in the test that takes it, never a silent hang
                self._lost()
                self._ready.put(exc)
                return
        self._ready.put(name)

    def _drop(self, name: str) -> None:
        try:
            self._connection().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error:  # a drop that fails leaves the database to the session's end, as a test's own did
            self._lost()

    def _serve(self) -> None:
        while (task := self._work.get()) is not None:
            try:
                task()
            finally:
                self._work.task_done()
        self._work.task_done()
        self._lost()

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._admin_url, autocommit=True)
        return self._conn

    def _lost(self) -> None:
        """The connection closed; the next task opens a new one."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None
