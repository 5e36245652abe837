"""The sole writer's flush behind (storage/sole_writer.py `flush_behind`): the held events written whole by a thread
on the writer's own connection while the caller goes on. Reads see them throughout (a week's first read without
waiting, a read that must ask PostgreSQL after waiting for them); a flush that loses to another writer writes none
of them, and is raised by the next flush and every one after; `close` waits for the flush in flight."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent
from llmtrade.errors import ConcurrencyError
from llmtrade.storage import sole_writer
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW
from tests.test_sole_writer import WEEK


def _written(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT type FROM events ORDER BY id")]


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Set it to let a flush behind write: until then it stays in flight, on its thread."""
    opened = threading.Event()
    real = sole_writer.write

    def held_back(conn: psycopg.Connection, held: list) -> None:
        if threading.current_thread() is not threading.main_thread():
            assert opened.wait(10)
        real(conn, held)

    monkeypatch.setattr(sole_writer, "write", held_back)
    yield opened
    opened.set()


def _store(storage: Storage, url: str) -> EventStore:
    return EventStore(
        storage.conn, FixedClock(FIXED_NOW), exclusive=True, behind=lambda: psycopg.connect(url, autocommit=True)
    )


def test_a_flush_behind_leaves_the_events_held_for_reads_until_it_commits_and_a_read_that_asks_waits_for_it(
    storage: Storage, database_url: str, gate: threading.Event
) -> None:
    store = _store(storage, database_url)
    later = WEEK + timedelta(days=7)
    store.append([NewEvent(type="A", stream="s", payload={}, week_id=WEEK, account_id="acct_1")])
    store.append([NewEvent(type="B", stream="t", payload={}, week_id=later)])
    store.flush_behind()
    store.append([NewEvent(type="C", stream="s", payload={}, week_id=WEEK, account_id="acct_1")])

    # In flight: nothing committed, and a week's first read (which asks PostgreSQL without flushing) holds them.
    assert _written(database_url) == []
    assert [(e.type, e.version) for e in store.read(week_id=WEEK)] == [("A", 1), ("C", 2)]
    assert [e.type for e in store.read(week_id=later)] == ["B"]
    assert store.stream_version("s") == 2

    # A read the copies cannot answer flushes first: it waits for the flush in flight, then writes what is held.
    threading.Timer(0.3, gate.set).start()
    assert store.count() == 3
    assert _written(database_url) == ["A", "B", "C"]
    store.close()


def test_a_weeks_first_read_after_the_flush_behind_committed_holds_each_event_once(
    storage: Storage, database_url: str
) -> None:
    store = _store(storage, database_url)
    store.append([NewEvent(type="A", stream="s", payload={}, week_id=WEEK)])
    store.append([NewEvent(type="B", stream="s", payload={}, week_id=WEEK)])
    store.flush_behind()
    deadline = time.monotonic() + 10
    while _written(database_url) != ["A", "B"]:  # committed, and not yet waited for
        assert time.monotonic() < deadline
        time.sleep(0.01)
    store.append([NewEvent(type="C", stream="s", payload={}, week_id=WEEK)])
    assert [(e.type, e.version) for e in store.read(week_id=WEEK)] == [("A", 1), ("B", 2), ("C", 3)]
    store.flush()
    assert [(e.type, e.version) for e in store.read(week_id=WEEK)] == [("A", 1), ("B", 2), ("C", 3)]
    assert _written(database_url) == ["A", "B", "C"]
    store.close()


def test_a_flush_behind_that_loses_to_another_writer_writes_nothing_and_every_later_flush_raises(
    storage: Storage, database_url: str, gate: threading.Event
) -> None:
    store = _store(storage, database_url)
    assert store.read_stream("s") == []
    # The conflict is the last row of the COPY: the rows before it are sent, and none of them may stay.
    store.append([NewEvent(type="First", stream="u", payload={}, week_id=WEEK, account_id="acct_1")])
    store.append([NewEvent(type="Second", stream="v", payload={}, week_id=WEEK)])
    store.append([NewEvent(type="Mine", stream="s", payload={})])
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT setval(pg_get_serial_sequence('events', 'id'), 100)")  # theirs takes no id of ours
        EventStore(conn, FixedClock(FIXED_NOW)).append([NewEvent(type="Theirs", stream="s", payload={})])
    store.flush_behind()
    store.append([NewEvent(type="Next", stream="w", payload={}, week_id=WEEK)])  # the next week computing
    gate.set()

    with pytest.raises(ConcurrencyError) as lost:
        store.flush_behind()  # the week's end: waits for the one before
    assert (lost.value.stream, lost.value.version) == ("s", 1)
    assert _written(database_url) == ["Theirs"]
    # Everything held is dropped (the next week's appends too).
    assert store._writer is not None and store._writer.pending == []
    assert store.read(week_id=WEEK) == []
    # Raised again by every later flush, and so by every read that must flush: a job that caught it (as another
    # writer's retry) cannot lose it, and the backtest's week-end flush raises it.
    with pytest.raises(ConcurrencyError):
        store.read_stream("s")
    with pytest.raises(ConcurrencyError):
        store.flush()
    with pytest.raises(ConcurrencyError):
        store.flush_behind()
    store.close()
    assert _written(database_url) == ["Theirs"]


def test_close_waits_for_the_flush_in_flight_and_closes_the_writers_connection(
    storage: Storage, database_url: str, gate: threading.Event
) -> None:
    opened: list[psycopg.Connection] = []

    def behind() -> psycopg.Connection:
        opened.append(psycopg.connect(database_url, autocommit=True))
        return opened[-1]

    store = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True, behind=behind)
    store.append([NewEvent(type="A", stream="s", payload={}, week_id=WEEK)])
    store.flush_behind()
    store.append([NewEvent(type="Unwritten", stream="s", payload={}, week_id=WEEK)])
    threading.Timer(0.3, gate.set).start()
    store.close()
    assert _written(database_url) == ["A"]  # the flush in flight committed whole; what was held is forgotten
    assert len(opened) == 1 and opened[0].closed
    assert [e.type for e in EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True).read(week_id=WEEK)] == ["A"]


def test_a_writer_without_a_connection_of_its_own_flushes_at_once(storage: Storage, database_url: str) -> None:
    store = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    store.append([NewEvent(type="A", stream="s", payload={}, week_id=WEEK)])
    store.flush_behind()
    assert _written(database_url) == ["A"]
