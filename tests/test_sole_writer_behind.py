"""The sole writer's flush behind (storage/sole_writer.py `flush_behind`): the held events written whole by a thread
on the writer's own connection while the caller goes on. Reads see them throughout (a week's first read without
waiting, a read that must ask PostgreSQL after waiting for them); a flush that loses to another writer writes none
of them, and is raised by the next flush and every one after; `close` waits for the flush in flight."""

from __future__ import annotations

import random
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


def test_a_statement_on_the_writers_connection_waits_for_the_rows_written_behind(
    storage: Storage, database_url: str
) -> None:
    store = _store(storage, database_url)
    storage.conn.execute("CREATE TABLE behind_rows (n int)")
    order: list[str] = []

    def slow_insert(conn: psycopg.Connection) -> None:
        time.sleep(0.3)
        conn.execute("INSERT INTO behind_rows VALUES (1)")
        order.append("rows")

    store.append([NewEvent(type="A", stream="s", payload={}, week_id=WEEK)])
    store.flush_behind()
    assert store.write_behind(slow_insert)
    # The next statement on the held connection (any: here a plain read) sees the rows handed over before it.
    assert storage.conn.execute("SELECT count(*) FROM behind_rows").fetchone() == (1,)
    assert order == ["rows"] and _written(database_url) == ["A"]
    store.close()


def test_a_row_write_behind_that_fails_is_raised_by_the_next_flush_and_nothing_after_it_is_written(
    storage: Storage, database_url: str
) -> None:
    store = _store(storage, database_url)

    def refused(conn: psycopg.Connection) -> None:
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    store.append([NewEvent(type="A", stream="s", payload={}, week_id=WEEK)])
    store.flush_behind()
    assert store.write_behind(refused)
    assert store.write_behind(lambda conn: conn.execute("CREATE TABLE after_failure (n int)"))  # skipped
    store.append([NewEvent(type="B", stream="s", payload={}, week_id=WEEK)])
    with pytest.raises(psycopg.errors.UndefinedTable):
        store.flush_behind()  # waits for the writes before: the failure raised, B not handed over
    with pytest.raises(psycopg.errors.UndefinedTable):
        store.flush()
    with pytest.raises(psycopg.errors.UndefinedTable):
        store.write_behind(refused)
    store.close()
    assert _written(database_url) == ["A"]
    assert storage.conn.execute("SELECT to_regclass('after_failure')").fetchone() == (None,)


def test_memory_rows_written_behind_are_what_a_store_writing_at_once_stores_and_each_read_sees_them(
    storage: Storage, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmtrade.memory import store as memory_store
    from llmtrade.memory.embedder import PackagedEmbedder
    from llmtrade.memory.store import TABLES, PgMemory
    from tests.test_backtest_memory import WEEKS
    from tests.test_memory_store import week_items

    real = memory_store._write_rows
    behind: list[str] = []

    def late(*args: object) -> None:
        if threading.current_thread() is not threading.main_thread():
            behind.append("rows")
            time.sleep(0.05)  # still in flight when the next statement on the held connection comes
        real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(memory_store, "_write_rows", late)

    def remember(memory: PgMemory, conn: psycopg.Connection) -> list[int]:
        counts = []
        for week in WEEKS[:3]:
            items = week_items(week, random.Random(week.toordinal()))
            for part in (items[:2], items, items[1:]):
                memory.remember(part, week_id=week, run_id="r")
                time.sleep(0.01)  # the writer's thread takes the rows up meanwhile (else this thread writes them)
                counts.append(conn.execute("SELECT count(*) FROM memory_items").fetchone()[0])  # type: ignore[index]
        return counts

    def rows(conn: psycopg.Connection) -> dict[str, list[tuple[object, ...]]]:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}

    held = _store(storage, database_url)
    counts = remember(PgMemory(storage.conn, held, PackagedEmbedder()), storage.conn)
    assert behind  # written behind indeed
    held.flush()
    with psycopg.connect(_fresh_from(database_url), autocommit=True) as conn:
        at_once = remember(PgMemory(conn, EventStore(conn, FixedClock(FIXED_NOW)), PackagedEmbedder()), conn)
        expected = rows(conn)
    assert counts == at_once
    assert rows(storage.conn) == expected
    held.close()


def _fresh_from(url: str) -> str:
    """A new database with every migration, beside `url`'s."""
    from llmtrade.settings import Settings
    from llmtrade.storage.bootstrap import open_storage
    from tests.test_sole_writer import _fresh

    fresh = _fresh(url)
    with open_storage(Settings(DATABASE_URL=fresh), FixedClock(FIXED_NOW)):
        pass
    return fresh


def test_memory_rows_remembered_inside_a_callers_transaction_are_written_in_it_not_behind(
    storage: Storage, database_url: str
) -> None:
    from llmtrade.memory.embedder import PackagedEmbedder
    from llmtrade.memory.store import PgMemory
    from tests.test_backtest_memory import WEEKS
    from tests.test_memory_store import week_items

    held = _store(storage, database_url)
    memory = PgMemory(storage.conn, held, PackagedEmbedder())
    items = week_items(WEEKS[0], random.Random(1))

    class Undone(Exception):
        pass

    with pytest.raises(Undone), storage.conn.transaction():
        memory.remember(items, week_id=WEEKS[0], run_id="r")
        assert storage.conn.execute("SELECT count(*) FROM memory_items").fetchone() == (len(items),)
        raise Undone
    assert storage.conn.execute("SELECT count(*) FROM memory_items").fetchone() == (0,)  # rolled back with it
    held.close()
