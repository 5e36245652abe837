"""A sole writer's read of a stream whose copy was dropped (Copies.drop_idle: a breaker read once in a few weeks)
writes nothing of what it holds and does not wait for a flush in flight (storage/first_reads.py `stream`): the
stream's rows written, then its held appends."""

from __future__ import annotations

import threading

import psycopg

from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests import test_sole_writer_behind as behind
from tests.support import FIXED_NOW
from tests.test_sole_writer import WEEK

# The same fixture and reader as the flush-behind tests': a flush behind held in flight until `gate` is set.
gate = behind.gate
_written = behind._written


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
