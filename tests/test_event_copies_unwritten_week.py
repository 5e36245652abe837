"""A sole writer's first read of a week no row of which is written (a backtest's week beginning) asks PostgreSQL
nothing: the week's appends it holds are the week (storage/first_reads.py `unwritten`). A week with rows
written -- by one of its flushes since the table's latest week was read, or by another writer before this one began
-- is read from the table as before."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import psycopg

from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW, sent_messages
from tests.test_sole_writer import WEEK


def _sent(conn: psycopg.Connection, work: Callable[[], object]) -> list[str]:
    """The simple queries and extended-protocol statements `work` sent."""
    return [m for m in sent_messages(conn, work) if m.split(" ")[0] in ("Query", "Parse")]


def _event(kind: str, week: object) -> NewEvent:
    return NewEvent(type=kind, stream=f"s-{kind}", payload={}, week_id=week)  # type: ignore[arg-type]


def test_a_weeks_first_read_asks_nothing_while_none_of_its_events_is_written(storage: Storage) -> None:
    store = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    later = WEEK + timedelta(days=7)
    store.append([_event("A", WEEK)])
    store.read(week_id=WEEK)  # the first: reads the table's latest week once
    store.append([_event("B", later)])
    sent = _sent(storage.conn, lambda: store.read(week_id=later))
    assert sent == []
    assert [e.type for e in store.read(week_id=later)] == ["B"]
    assert [e.type for e in store.read(week_id=WEEK)] == ["A"]
    # The copy is kept and fed as one read from the table: after the week's events are written, and with one more
    # appended, its reads still ask nothing.
    store.flush()
    store.append([_event("C", later)])
    sent = _sent(storage.conn, lambda: store.read(week_id=later))
    assert sent == []
    assert [e.type for e in store.read(week_id=later)] == ["B", "C"]
    store.close()


def test_a_week_whose_events_were_flushed_since_is_read_from_the_table(storage: Storage) -> None:
    store = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    weeks = [WEEK + timedelta(days=7 * i) for i in range(5)]
    store.read(week_id=weeks[0])  # the latest week read: none
    store.append([_event("A", weeks[1])])
    store.flush()  # week 1's event is written now, and no longer held
    for week in weeks[2:]:
        store.read(week_id=week)  # week 1 was never read: its first read comes after these
    assert [e.type for e in store.read(week_id=weeks[1])] == ["A"]
    store.close()


def test_a_week_another_writer_wrote_before_this_one_began_is_read_from_the_table(
    storage: Storage, database_url: str
) -> None:
    first = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    first.read(week_id=WEEK)  # the latest week read by this writer: none
    first.close()
    later = WEEK + timedelta(days=7)
    with psycopg.connect(database_url, autocommit=True) as conn:
        EventStore(conn, FixedClock(FIXED_NOW)).append([_event("Theirs", later)])
    second = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    assert [e.type for e in second.read(week_id=later)] == ["Theirs"]
    second.close()
