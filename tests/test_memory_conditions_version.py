"""Migration 0012: the market conditions' version (row count, highest event id) kept in one row by triggers, which
every memory read checks its held conditions against instead of counting memory_conditions."""

from __future__ import annotations

import random
from datetime import timedelta

import psycopg
import pytest

from llmtrade.domain.memory import ConditionRemembered, MarketCondition
from llmtrade.memory.embedder import PackagedEmbedder
from llmtrade.memory.history import ConditionHistory
from llmtrade.memory.protocol import SetupQuery
from llmtrade.memory.store import PgMemory
from llmtrade.storage.bootstrap import Storage
from tests.support import migrate_around
from tests.test_memory_conditions import _conditions
from tests.test_memory_store import _weeks, week_items

_COUNTED = "SELECT count(*), coalesce(max(event_id), 0) FROM memory_conditions"
_HELD = "SELECT n, e FROM memory_conditions_version"


def _insert(conn: psycopg.Connection, c: MarketCondition, event_id: int) -> None:
    conn.execute(
        "INSERT INTO memory_conditions (memory_id, week_id, known_at, session, names, vals, event_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (c.memory_id, c.week_id, c.known_at, c.session, list(c.names), list(c.values), event_id),
    )


def test_the_version_row_is_what_counting_gives_after_every_kind_of_write(storage: Storage) -> None:
    conn = storage.conn
    assert conn.execute(_HELD).fetchall() == [(0, 0)]
    conditions = _conditions(8)
    memory = PgMemory(conn, storage.events, PackagedEmbedder())
    memory.remember(
        [ConditionRemembered(condition=c) for c in conditions[:4]], week_id=conditions[0].week_id, run_id=None
    )
    counted = conn.execute(_COUNTED).fetchone()
    assert counted is not None and counted[0] == 4 and conn.execute(_HELD).fetchall() == [counted]
    _insert(conn, conditions[4], 1)  # under the highest event id: the count moves, the highest does not
    assert conn.execute(_HELD).fetchall() == [conn.execute(_COUNTED).fetchone()]
    conn.execute("DELETE FROM memory_conditions WHERE event_id = (SELECT max(event_id) FROM memory_conditions)")
    assert conn.execute(_HELD).fetchall() == [conn.execute(_COUNTED).fetchone()]
    conn.execute(
        "UPDATE memory_conditions SET event_id = event_id + 1000 WHERE memory_id = %s", (conditions[0].memory_id,)
    )
    assert conn.execute(_HELD).fetchall() == [conn.execute(_COUNTED).fetchone()]
    held = conn.execute(_HELD).fetchall()
    with conn.transaction(force_rollback=True):  # a rolled-back write leaves the row as it was
        _insert(conn, conditions[5], 99_999)
        assert conn.execute(_HELD).fetchall() == [(held[0][0] + 1, 99_999)]
    assert conn.execute(_HELD).fetchall() == held
    memory.rebuild()  # truncates and replays: the remembered four again
    assert conn.execute(_HELD).fetchall() == [conn.execute(_COUNTED).fetchone()]
    assert conn.execute(_HELD).fetchone()[0] == 4  # type: ignore[index]


def test_a_similar_setups_read_refreshes_the_held_conditions_when_the_version_row_moves(storage: Storage) -> None:
    memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    rng = random.Random(5)
    weeks = _weeks(3)
    for week_id in weeks:
        memory.remember(week_items(week_id, rng), week_id=week_id, run_id=None)
    history: ConditionHistory = memory._history
    condition = _conditions(1)[0].model_copy(update={"memory_id": "condition:query", "week_id": weeks[-1]})
    query = SetupQuery(instrument="SPY", direction="LONG", conviction=1, thesis="momentum", condition=condition)
    as_of = condition.known_at + timedelta(days=400)
    memory.similar_setups(query, as_of=as_of, limit=5)
    assert history.version == storage.conn.execute(_COUNTED).fetchone()
    extra = _conditions(1)[0].model_copy(update={"memory_id": "condition:zz-late"})
    _insert(storage.conn, extra, 1)
    memory.similar_setups(query, as_of=as_of, limit=5)
    assert history.version == storage.conn.execute(_COUNTED).fetchone()
    assert "condition:zz-late" in history._ids


def test_the_migration_counts_the_conditions_already_stored(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fill(storage: Storage) -> None:
        assert storage.conn.execute("SELECT to_regclass('memory_conditions_version')").fetchone() == (None,)
        conditions = _conditions(5)
        memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
        memory.remember(
            [ConditionRemembered(condition=c) for c in conditions], week_id=conditions[0].week_id, run_id=None
        )

    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        applied = migrate_around(conn, empty_database_url, 12, fill, monkeypatch)
        assert applied and applied[0] == 12
        counted = conn.execute(_COUNTED).fetchone()
        assert counted is not None and counted[0] == 5 and conn.execute(_HELD).fetchall() == [counted]
        _insert(conn, _conditions(6)[5], 1)
        assert conn.execute(_HELD).fetchall() == [conn.execute(_COUNTED).fetchone()]


def test_a_sole_writers_history_holds_what_it_stored_as_reading_it_back_would(storage: Storage) -> None:
    # A backtest (its event store holds its appends: the database's only writer) tells the shared history the
    # conditions it commits, so the next read does not find the table changed and run again; what is held is what a
    # history reading every row holds, to the bit, and the version is the triggers'.
    from llmtrade.clock import FixedClock
    from llmtrade.memory.projection import StoredIds
    from llmtrade.storage.event_store import EventStore
    from tests.support import FIXED_NOW
    from tests.test_backtest_memory import _statements

    conditions = _conditions(6)
    held = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    history, stored_ids = ConditionHistory(), StoredIds()
    first = conditions[0]
    later = first.known_at + timedelta(weeks=10)
    query = SetupQuery(instrument="SPY", direction="LONG", conviction=1, thesis="a breakout", condition=first)
    memory = PgMemory(storage.conn, held, PackagedEmbedder(), history=history, stored_ids=stored_ids)
    assert memory.similar_conditions(first, as_of=later, limit=3) == ()  # the empty table read: version (0, 0)
    for condition in conditions:
        memory = PgMemory(storage.conn, held, PackagedEmbedder(), history=history, stored_ids=stored_ids)
        memory.remember([ConditionRemembered(condition=condition)], week_id=condition.week_id, run_id="r")
        with _statements(storage.conn) as sent:
            memory.similar_setups(query, as_of=later, limit=3)
            near = memory.similar_conditions(first, as_of=later, limit=3)
        assert sum("WITH text" in q for q in sent) == 1  # not run again
        assert not [q for q in sent if "memory_conditions" in q and "WITH text" not in q]  # nor the version read
        own = PgMemory(storage.conn, storage.events, PackagedEmbedder())  # reads everything itself
        assert near == own.similar_conditions(first, as_of=later, limit=3)
    version = storage.conn.execute(_HELD).fetchone()
    assert version is not None and history.version == (int(version[0]), int(version[1])) == (6, version[1])
    fresh = ConditionHistory()
    fresh.refresh(storage.conn, history.version)
    assert history._rows == fresh._rows
    assert history._ids == fresh._ids and history._weeks == fresh._weeks
    assert history._names == fresh._names and history._columns == fresh._columns
    for mine, theirs in [(history._values, fresh._values), (history._known, fresh._known)]:
        assert mine.tobytes() == theirs.tobytes()
    assert (history._id_rank == fresh._id_rank).all() and (history._gappy == fresh._gappy).all()
    assert history.distances(first, later) == fresh.distances(first, later)


def test_a_history_told_what_does_not_extend_it_reads_the_table_again_whole(storage: Storage) -> None:
    conditions = _conditions(4)
    memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    memory.remember(
        [ConditionRemembered(condition=c) for c in conditions[1:3]], week_id=conditions[1].week_id, run_id=None
    )
    history = ConditionHistory()
    history.refresh(storage.conn, history.read_version(storage.conn))
    assert history.version is not None and history.version[0] == 2

    def row(c: MarketCondition) -> tuple[object, ...]:
        return (c.memory_id, c.week_id, c.known_at, c.session, list(c.names), list(c.values))

    history.stored([row(conditions[0])], [10**9])  # a week before the last one held
    assert history.version is None
    history.refresh(storage.conn, history.read_version(storage.conn))
    history.stored([row(conditions[3].model_copy(update={"memory_id": "condition:late"}))], [10**9])  # not a week's
    assert history.version is None
    history.refresh(storage.conn, history.read_version(storage.conn))
    history.stored([row(conditions[3])], [10**9])  # the next week: held, with the version the triggers would give
    assert history.version == (3, 10**9)
