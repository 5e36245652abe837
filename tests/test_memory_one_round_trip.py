"""A sole writer's `remember` (a backtest's: its store holds its appends) sends its rows in one round trip, BEGIN to
COMMIT in one pipeline (memory/store.py `PgMemory._written`), and stays one transaction: the same rows as the
transaction path writes, none of them when a statement is refused or the block fails half-way."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta

import psycopg
import pytest
from psycopg import pq
from psycopg.types.string import StrDumper

from llmtrade.clock import FixedClock
from llmtrade.domain.memory import Lesson, LessonRemembered
from llmtrade.memory.embedder import PackagedEmbedder
from llmtrade.memory.projection import StoredIds
from llmtrade.memory.store import TABLES, PgMemory
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW, sent_messages
from tests.test_memory_store import _tables, week_items

WEEK = date(2024, 1, 1)


def _sole(storage: Storage) -> tuple[PgMemory, EventStore]:
    events = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    return PgMemory(storage.conn, events, PackagedEmbedder(), stored_ids=StoredIds()), events


def _round_trips(conn: psycopg.Connection, work: Callable[[], None]) -> list[str]:
    """The messages `work` sent that each wait for the server: a simple Query, or a Sync ending a pipeline."""
    return [kind for kind in (m.split(" ")[0] for m in sent_messages(conn, work)) if kind in ("Query", "Sync")]


def test_a_sole_writers_remember_is_one_round_trip(storage: Storage) -> None:
    memory, _ = _sole(storage)
    rng = random.Random(3)
    memory.remember(week_items(WEEK, rng), week_id=WEEK, run_id="r1")  # the first reads the stored ids
    later = WEEK + timedelta(weeks=1)
    items = week_items(later, rng)
    trips = _round_trips(storage.conn, lambda: memory.remember(items, week_id=later, run_id="r1"))
    assert trips == ["Sync"]
    assert storage.conn.info.transaction_status == pq.TransactionStatus.IDLE
    stored = storage.conn.execute("SELECT count(*) FROM memory_items").fetchone()[0]
    assert stored == 2 * len(items)


def test_the_rows_are_the_transaction_paths(storage: Storage) -> None:
    # `rebuild` writes the same events' rows through `transaction()`: the tables come out the same.
    memory, events = _sole(storage)
    rng = random.Random(5)
    for week in (WEEK + timedelta(weeks=i) for i in range(4)):
        memory.remember(week_items(week, rng), week_id=week, run_id="r1")
    written = _tables(storage)
    events.flush()
    memory.rebuild()
    assert _tables(storage) == written


def _counts(storage: Storage) -> dict[str, int]:
    return {t: storage.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def test_a_statement_refused_stores_none_of_the_batch(storage: Storage) -> None:
    memory, _ = _sole(storage)
    rng = random.Random(7)
    memory.remember(week_items(WEEK, rng), week_id=WEEK, run_id="r1")
    before = _counts(storage)
    later = WEEK + timedelta(weeks=1)
    items = week_items(later, rng)
    # The week's note (written last: symbols follow conditions, setups, outcomes and lessons) taken behind the
    # stored ids' back: its insert is refused after the others were sent.
    storage.conn.execute(
        "INSERT INTO memory_items (memory_id, kind, event_id) VALUES (%s, 'symbol', 1)", (f"symbol:{later}:SPY:A",)
    )
    before["memory_items"] += 1
    with pytest.raises(psycopg.errors.UniqueViolation):
        memory.remember(items, week_id=later, run_id="r1")
    assert storage.conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert _counts(storage) == before


class _Refused(str):
    """A text whose dumper (`_Refusing`) refuses it, as psycopg's refused a NUL before storage/storable_text.py."""


class _Refusing(StrDumper):
    def dump(self, obj: str) -> bytes:
        raise psycopg.DataError("refused as it is adapted")


def test_a_failure_half_way_through_the_block_stores_none_of_the_batch(storage: Storage) -> None:
    memory, _ = _sole(storage)
    rng = random.Random(9)
    memory.remember(week_items(WEEK, rng), week_id=WEEK, run_id="r1")
    before = _counts(storage)
    later = WEEK + timedelta(weeks=1)
    # A lesson's text refused by the client as its row is adapted, after the conditions', setups' and outcomes' rows
    # were sent (as a NUL was, before it was stored as U+FFFD: storage/storable_text.py).
    storage.conn.adapters.register_dumper(_Refused, _Refusing)
    bad = LessonRemembered(
        lesson=Lesson.model_construct(
            memory_id=f"lesson:{later}:x:9", week_id=later, known_at=FIXED_NOW, account_id="x", instrument="SPY",
            text=_Refused("refused"),
        )
    )  # fmt: skip
    with pytest.raises(psycopg.DataError, match="refused as it is adapted"):
        memory.remember([*week_items(later, rng), bad], week_id=later, run_id="r1")
    assert storage.conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert _counts(storage) == before
    memory.remember(week_items(later, random.Random(1)), week_id=later, run_id="r1")  # the connection still works
    assert _counts(storage)["memory_conditions"] == before["memory_conditions"] + 1
