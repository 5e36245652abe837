"""A sole writer's read of a stream whose copy was dropped (Copies.drop_idle: a breaker read once in a few weeks)
writes nothing of what it holds and does not wait for a flush in flight (storage/first_reads.py `stream`): the
stream's rows written, then its held appends."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent
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


def _dropped(store: EventStore) -> None:
    for _ in range(3):  # unread for two periods: the copy is forgotten
        store.drop_idle_copies()


def _append(store: EventStore, kind: str) -> None:
    store.append([NewEvent(type=kind, stream="breaker:acct_1", payload={}, week_id=WEEK)])


def test_a_dropped_streams_read_holds_its_written_rows_and_its_held_appends_without_a_flush(
    storage: Storage, database_url: str, gate: threading.Event
) -> None:
    behind = lambda: psycopg.connect(database_url, autocommit=True)  # noqa: E731
    store = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True, behind=behind)
    _append(store, "A")
    assert [e.type for e in store.read_stream("breaker:acct_1")] == ["A"]
    store.flush()  # A written
    _append(store, "B")
    store.flush_behind()  # B in flight, held back by the gate
    _append(store, "C")  # held
    _dropped(store)
    found = store.read(stream="breaker:acct_1")
    assert [(e.type, e.version) for e in found] == [("A", 1), ("B", 2), ("C", 3)]
    assert _written(database_url) == ["A"]  # nothing written for the read, and the flush in flight not waited for
    gate.set()
    store.flush()
    _dropped(store)
    _append(store, "D")
    assert [e.type for e in store.read(stream="breaker:acct_1")] == ["A", "B", "C", "D"]
    assert _written(database_url) == ["A", "B", "C"]
    store.close()
