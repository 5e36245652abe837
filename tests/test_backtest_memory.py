"""A backtest's memory reads answered once per visible set (app/backtest_memory.py), over the real PgMemory."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from llmtrade.app.backtest_memory import CachedMemory, RecallCache
from llmtrade.clock import FixedClock
from llmtrade.memory.embedder import PackagedEmbedder
from llmtrade.memory.protocol import SetupQuery
from llmtrade.memory.store import PgMemory
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from tests.conftest import _with_dbname
from tests.support import FIXED_NOW
from tests.test_memory_store import INSTRUMENTS, THESES, week_items

WEEKS = [date(2024, 1, 1) + timedelta(weeks=i) for i in range(6)]


def _fill(memory: PgMemory | CachedMemory, weeks: list[date]) -> None:
    rng = random.Random(7)
    for week_id in WEEKS:
        items = week_items(week_id, rng)  # drawn for every week, so a week's items do not depend on which are kept
        if week_id in weeks:
            memory.remember(items, week_id=week_id, run_id=f"run-{week_id}")


def _queries() -> list[SetupQuery]:
    rng = random.Random(3)
    condition = week_items(WEEKS[-1], rng)[0].condition
    return [
        SetupQuery(
            instrument=instrument,
            direction=rng.choice(("LONG", "SHORT")),
            conviction=rng.choice((-1, 1)),
            thesis=rng.choice(THESES),
            condition=condition,
        )
        for instrument in INSTRUMENTS[:2]
    ]


@contextmanager
def _statements(conn: psycopg.Connection) -> Iterator[list[str]]:
    """The text of every statement `conn.execute` sends meanwhile."""
    sent: list[str] = []
    real = conn.execute

    def execute(query: object, *args: object, **kwargs: object) -> object:
        sent.append(str(query))
        return real(query, *args, **kwargs)  # type: ignore[arg-type]

    conn.execute = execute  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        del conn.execute


def _instants() -> list[datetime]:
    """Every 23 hours across the weeks: many as-of times between two stored instants, some on them."""
    start = datetime.combine(WEEKS[0], datetime.min.time(), UTC)
    return [start + timedelta(hours=23 * n) for n in range(7 * 24 * len(WEEKS) // 23 + 2)]


@pytest.fixture(scope="module")
def filled(pg_admin_url: str) -> Iterator[tuple[PgMemory, Storage]]:
    """Five weeks remembered, once for the module's reading tests."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with open_storage(Settings(DATABASE_URL=_with_dbname(pg_admin_url, name)), FixedClock(FIXED_NOW)) as storage:
        memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
        _fill(memory, WEEKS[:5])
        yield memory, storage


def test_cached_reads_answer_what_the_memory_answers_at_every_as_of(filled: tuple[PgMemory, Storage]) -> None:
    memory, storage = filled
    cached = CachedMemory(memory, storage.conn, RecallCache())
    queries = _queries()
    seen: set[tuple[str, ...]] = set()
    for as_of in _instants():
        for query in queries:
            fresh = memory.similar_setups(query, as_of=as_of, limit=5)
            assert cached.similar_setups(query, as_of=as_of, limit=5) == fresh, (query.instrument, as_of)
            seen.add(tuple(r.memory_id for r in fresh))
        assert query.condition is not None
        conditions = memory.similar_conditions(query.condition, as_of=as_of, limit=3)
        assert cached.similar_conditions(query.condition, as_of=as_of, limit=3) == conditions
        assert cached.symbol_context("SPY", as_of=as_of, limit=4) == memory.symbol_context("SPY", as_of=as_of, limit=4)
    assert len(seen) > 4  # the as-of times do see different memories: a cache keyed wrongly would show it


def test_a_read_is_made_once_while_no_stored_instant_passes(filled: tuple[PgMemory, Storage]) -> None:
    memory, storage = filled
    cached = CachedMemory(memory, storage.conn, RecallCache())
    query = _queries()[0]
    # Week 4's outcomes are known on its Friday 21:00; nothing is stored after them.
    saturday = datetime.combine(WEEKS[4] + timedelta(days=5), datetime.min.time(), UTC)
    first = cached.similar_setups(query, as_of=saturday, limit=5)
    assert first
    assert cached.similar_setups(query, as_of=saturday + timedelta(hours=30), limit=5) is first
    assert cached.similar_setups(query, as_of=saturday + timedelta(days=30), limit=5) is first
    # Before those outcomes were known the visible set differs: read again, and another answer.
    assert cached.similar_setups(query, as_of=saturday - timedelta(days=1), limit=5) != first


def test_what_is_remembered_through_it_is_seen_by_the_next_read(storage: Storage) -> None:
    memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    _fill(memory, WEEKS[:3])
    cached = CachedMemory(memory, storage.conn, RecallCache())
    later = datetime.combine(WEEKS[-1] + timedelta(days=14), datetime.min.time(), UTC)
    queries = _queries()
    before = [cached.similar_setups(q, as_of=later, limit=5) for q in queries]
    _fill(cached, WEEKS[3:])
    after = [cached.similar_setups(q, as_of=later, limit=5) for q in queries]
    assert after == [memory.similar_setups(q, as_of=later, limit=5) for q in queries]
    assert after != before


def test_instants_carried_past_a_remember_are_what_a_fresh_read_finds(storage: Storage) -> None:
    # After each week remembered through the cache, its items' instants are added without reading the tables;
    # the instants (and so every cached answer's key) must be exactly those of a cache that reads everything.
    memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    cache = RecallCache()
    cached = CachedMemory(memory, storage.conn, cache)
    probe = datetime.combine(WEEKS[0], datetime.min.time(), UTC)
    cache.visible(storage.conn, probe)
    for week in WEEKS:
        _fill(cached, [week])
        _fill(cached, [week])  # remembered again: nothing stored, nothing added
        assert not cache.stale  # nothing left to read from the tables
        cache.visible(storage.conn, probe)
        fresh = RecallCache()
        fresh.visible(storage.conn, probe)
        assert cache.instants == fresh.instants
    assert cache.instants and len(cache.instants) == len(set(cache.instants))


def test_a_row_stored_below_the_highest_id_read_is_not_missed(storage: Storage) -> None:
    # Rows are found by event id above the highest read; one that comes in under it (another writer, a
    # rebuild) leaves the row count short of what was read plus what is new: everything is read again.
    memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    _fill(memory, WEEKS[:2])
    cache = RecallCache()
    probe = datetime.combine(WEEKS[-1] + timedelta(days=30), datetime.min.time(), UTC)
    before = cache.visible(storage.conn, probe)
    odd = datetime(2023, 6, 1, 12, 0, tzinfo=UTC)
    storage.conn.execute(
        "INSERT INTO memory_outcomes (setup_id, known_at, record, week_return, event_id) "
        "VALUES ('nobody', %s, '{}'::jsonb, 0.0, 1)",
        (odd,),
    )
    cache.forget()
    assert cache.visible(storage.conn, probe) == before + 1
    assert odd in (cache.instants or [])


def test_memories_built_over_one_condition_history_read_only_the_rows_stored_since(storage: Storage) -> None:
    # A backtest's jobs each build a memory (app/backtest_container.py); over the one held history, the second
    # job's read brings it up to date from the newer rows, where a history of its own would read every week.
    from llmtrade.app.memory_build import build_memory
    from llmtrade.config.loader import load_config
    from llmtrade.llm.gateway import LLMMode
    from llmtrade.memory.history import ConditionHistory

    models = load_config(None).config.models
    history = ConditionHistory()
    settings = Settings(DATABASE_URL="postgresql://unused")
    first = build_memory(models, storage, settings, LLMMode.OFFLINE, history=history)
    assert first is not None
    _fill(first, WEEKS[:3])
    condition = week_items(WEEKS[-1], random.Random(3))[0].condition
    later = datetime.combine(WEEKS[-1] + timedelta(days=14), datetime.min.time(), UTC)
    assert first.similar_conditions(condition, as_of=later, limit=3)
    _fill(first, WEEKS[3:4])
    second = build_memory(models, storage, settings, LLMMode.OFFLINE, history=history)
    assert second is not None
    sent: list[str] = []
    execute = storage.conn.execute

    def spied(query: str, *args: object, **kw: object) -> object:
        sent.append(query)
        return execute(query, *args, **kw)  # type: ignore[arg-type]

    storage.conn.execute = spied  # type: ignore[method-assign]
    try:
        shared = second.similar_conditions(condition, as_of=later, limit=3)
    finally:
        del storage.conn.execute
    own = PgMemory(storage.conn, storage.events, PackagedEmbedder()).similar_conditions(condition, as_of=later, limit=3)
    assert shared == own
    reads = [q for q in sent if "FROM memory_conditions" in q and "vals" in q]
    assert reads and all("WHERE event_id >" in q for q in reads)


def test_a_sole_writers_memory_stores_each_item_once_and_the_rows_a_shared_store_would(
    storage: Storage, pg_admin_url: str
) -> None:
    # Over an exclusive store (a backtest's, its database's only writer) `remember` takes no lock and looks once:
    # what is remembered again, whole or in part, is still stored once, in the rows any other store writes.
    from llmtrade.memory.store import EVENT_TYPES, TABLES
    from llmtrade.storage.event_store import EventStore

    def remember_twice(memory: PgMemory) -> None:
        for week in WEEKS[:3]:
            items = week_items(week, random.Random(week.toordinal()))
            memory.remember(items[:2], week_id=week, run_id="r")
            memory.remember(items, week_id=week, run_id="r")
            memory.remember(items[1:], week_id=week, run_id="r")

    def rows(conn: psycopg.Connection) -> dict[str, list[tuple[object, ...]]]:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}

    held = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    remember_twice(PgMemory(storage.conn, held, PackagedEmbedder()))
    held.flush()
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with open_storage(Settings(DATABASE_URL=_with_dbname(pg_admin_url, name)), FixedClock(FIXED_NOW)) as shared:
        remember_twice(PgMemory(shared.conn, shared.events, PackagedEmbedder()))
        expected = rows(shared.conn)
    stored = storage.events.read(type=list(EVENT_TYPES))
    assert len(stored) == len({str(e.payload) for e in stored})  # none twice
    assert len(expected["memory_items"]) == len(stored) > 0
    assert rows(storage.conn) == expected


def test_a_positions_lines_are_the_budgeted_setups_and_made_once_per_answer(
    filled: tuple[PgMemory, Storage], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A checkpoint's "Similar past setups" (workflows/memory_stages.position_memory) are the setups like the position
    # cut to the budget; a backtest's memory answers the week's checkpoints with one frozen tuple, cut once.
    from llmtrade.agents import memory_notes
    from llmtrade.workflows import recall_reads

    memory, storage = filled
    cached = CachedMemory(memory, storage.conn, RecallCache())
    query = _queries()[0].model_copy(update={"condition": None})
    later = datetime.combine(WEEKS[-1], datetime.min.time(), UTC)
    expected = memory_notes.within_budget(recall_reads.setups_like(memory, [query], as_of=later, limit=5), 400)
    assert expected[0]
    cuts: list[object] = []
    real = recall_reads.within_budget

    def counting(hits: object, budget: int) -> object:
        cuts.append(hits)
        return real(hits, budget)  # type: ignore[arg-type]

    monkeypatch.setattr(recall_reads, "within_budget", counting)
    args = {"as_of": later, "limit": 5, "token_budget": 400}
    assert [recall_reads.setups_within_budget(cached, query, **args) for _ in range(3)] == [expected] * 3
    assert len(cuts) == 1
    # Another budget, or an earlier as-of time (another answer), is cut afresh.
    assert recall_reads.setups_within_budget(cached, query, **{**args, "token_budget": 40}) == real(
        recall_reads.setups_like(memory, [query], as_of=later, limit=5), 40
    )
    earlier = {**args, "as_of": datetime.combine(WEEKS[2], datetime.min.time(), UTC)}
    assert recall_reads.setups_within_budget(cached, query, **earlier) == real(
        recall_reads.setups_like(memory, [query], as_of=earlier["as_of"], limit=5), 400
    )
    assert len(cuts) == 3


def test_a_sole_writers_memories_share_the_ids_stored_and_look_at_the_table_once(storage: Storage) -> None:
    # A backtest's jobs each build a memory over its one exclusive store, all told the same StoredIds: the table of
    # ids is read once, each item is still stored once (whichever job remembers it again), and a rebuild, which
    # empties the table, makes the next look read it again.
    from llmtrade.memory.projection import StoredIds
    from llmtrade.memory.store import EVENT_TYPES
    from llmtrade.storage.event_store import EventStore

    held = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    stored_ids = StoredIds()
    with _statements(storage.conn) as sent:
        for week in WEEKS[:3]:
            items = week_items(week, random.Random(week.toordinal()))
            for part in (items[:2], items, items[1:]):  # a job each, the same items again
                memory = PgMemory(storage.conn, held, PackagedEmbedder(), stored_ids=stored_ids)
                memory.remember(part, week_id=week, run_id="r")
    assert [q for q in sent if "FROM memory_items" in q] == ["SELECT memory_id FROM memory_items"]
    held.flush()
    stored = storage.events.read(type=list(EVENT_TYPES))
    assert len(stored) == len({str(e.payload) for e in stored}) > 0  # none twice
    count = storage.conn.execute("SELECT count(*) FROM memory_items").fetchone()
    assert count is not None and count[0] == len(stored)
    memory.rebuild()
    items = week_items(WEEKS[3], random.Random(WEEKS[3].toordinal()))
    with _statements(storage.conn) as sent:
        memory.remember(items, week_id=WEEKS[3], run_id="r")
    assert [q for q in sent if "FROM memory_items" in q] == ["SELECT memory_id FROM memory_items"]


def test_a_memory_over_a_shared_store_asks_the_table_whatever_it_is_given(storage: Storage) -> None:
    # Ids known to this process are only all the ids when it is the database's only writer.
    from llmtrade.memory.projection import StoredIds

    memory = PgMemory(storage.conn, storage.events, PackagedEmbedder(), stored_ids=StoredIds())
    items = week_items(WEEKS[0], random.Random(1))
    with _statements(storage.conn) as sent:
        memory.remember(items, week_id=WEEKS[0], run_id="r")
        memory.remember(items, week_id=WEEKS[0], run_id="r")
    looks = [q for q in sent if "FROM memory_items" in q]
    # Before and (under the lock) after embedding the first time; once the second, finding everything stored.
    assert looks == ["SELECT memory_id FROM memory_items WHERE memory_id = ANY(%s)"] * 3


def test_a_sole_writers_memory_counts_the_setups_instead_of_asking_the_planner(storage: Storage) -> None:
    # Whether the HNSW index pays is decided on the setups' count, which the shared StoredIds keeps exactly.
    from llmtrade.memory.projection import StoredIds
    from llmtrade.storage.event_store import EventStore

    held = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    stored_ids = StoredIds()
    for week in WEEKS[:3]:
        memory = PgMemory(storage.conn, held, PackagedEmbedder(), stored_ids=stored_ids)
        memory.remember(week_items(week, random.Random(week.toordinal())), week_id=week, run_id="r")
    counted = storage.conn.execute("SELECT count(*) FROM memory_setups").fetchone()
    assert counted is not None and stored_ids.setups(storage.conn) == counted[0] > 0
    assert StoredIds().setups(storage.conn) == counted[0]  # read from the table: the same
    later = datetime.combine(WEEKS[-1], datetime.min.time(), UTC)
    with _statements(storage.conn) as sent:
        fresh = PgMemory(storage.conn, held, PackagedEmbedder(), stored_ids=stored_ids)
        assert fresh.similar_setups(_queries()[0], as_of=later, limit=3)
    assert not [q for q in sent if "reltuples" in q]


@pytest.mark.parametrize(
    ("memory", "mode", "warmed"),
    [
        ({}, "OFFLINE", True),
        ({}, "LIVE", True),  # no embedding model configured: the packaged one embeds live too
        ({"embedding": {"model": "text-embedding-3-small"}}, "OFFLINE", True),
        ({"embedding": {"model": "text-embedding-3-small"}}, "LIVE", False),  # a remote model embeds
        ({"enabled": False}, "OFFLINE", False),  # no memory: nothing embeds
    ],
)
def test_the_packaged_model_is_warmed_ahead_only_when_the_memory_embeds_with_it(
    memory: dict[str, object], mode: str, warmed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmtrade.app import memory_build
    from llmtrade.config.loader import load_config
    from llmtrade.config.sections import MemoryConfig
    from llmtrade.llm.gateway import LLMMode

    made: list[bool] = []
    monkeypatch.setattr(memory_build, "PackagedEmbedder", lambda *, warm: made.append(warm))
    packaged = load_config(None).config.models
    models = packaged.model_copy(update={"memory": MemoryConfig.model_validate(memory)})
    memory_build.warm_embedder(models, LLMMode[mode])
    assert made == ([True] if warmed else [])
