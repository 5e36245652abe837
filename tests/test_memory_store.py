"""The memory over the real embedded PostgreSQL: writing once, projecting, rebuilding, point-in-time recall."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from llmtrade.clock import FixedClock
from llmtrade.domain.memory import (
    ConditionRemembered,
    Lesson,
    LessonRemembered,
    MarketCondition,
    Outcome,
    OutcomeRemembered,
    Setup,
    SetupRemembered,
    SymbolNote,
    SymbolNoteRemembered,
)
from llmtrade.memory.conditions import FEATURES
from llmtrade.memory.embedder import PackagedEmbedder
from llmtrade.memory.protocol import SetupQuery
from llmtrade.memory.store import TABLES, PgMemory
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from tests.conftest import _with_dbname
from tests.support import FIXED_NOW

INSTRUMENTS = ("SPY", "QQQ", "TLT", "GLD")
THESES = (
    "momentum breakout above the 50 day average with rising breadth",
    "rates falling, duration rallies as inflation cools",
    "mean reversion after an oversold RSI in a range",
    "gold bid on a weaker dollar and geopolitical risk",
    "trend exhaustion, RSI above 75, expect a pullback",
)


def _friday(week_id: date) -> datetime:
    return datetime.combine(week_id + timedelta(days=4), datetime.min.time(), UTC).replace(hour=21)


def week_items(week_id: date, rng: random.Random) -> list:
    """A simulated week: its condition, two pitches, a decision, their outcomes, a lesson and a note."""
    monday = datetime.combine(week_id, datetime.min.time(), UTC).replace(hour=13)
    friday = _friday(week_id)
    items: list = [
        ConditionRemembered(
            condition=MarketCondition(
                memory_id=f"condition:{week_id}",
                week_id=week_id,
                known_at=monday,
                session=week_id - timedelta(days=3),
                names=FEATURES,
                values=tuple(None if rng.random() < 0.1 else rng.gauss(0, 1) for _ in FEATURES),
            )
        )
    ]
    for author in ("pm-a", "pm-b", "chairman"):
        instrument = rng.choice(INSTRUMENTS)
        direction = rng.choice(("LONG", "SHORT"))
        conviction = rng.choice((1, 2)) * (1 if direction == "LONG" else -1)
        setup = Setup(
            memory_id=f"setup:{week_id}:{'decision' if author == 'chairman' else 'pitch'}:{author}",
            week_id=week_id,
            known_at=monday,
            source="decision" if author == "chairman" else "pitch",
            author=author,
            account_id=f"acct-{author}",
            instrument=instrument,
            direction=direction,
            conviction=conviction,
            thesis=rng.choice(THESES),
            indicators=(f"rsi_14 < {rng.randint(55, 80)}",),
        )
        ret = rng.gauss(0, 0.02)
        items.append(SetupRemembered(setup=setup))
        items.append(
            OutcomeRemembered(
                outcome=Outcome(
                    setup_id=setup.memory_id,
                    week_id=week_id,
                    known_at=friday,
                    account_id=setup.account_id,
                    week_return=ret,
                    week_pnl=ret * 100_000,
                    instrument_return=ret,
                    thesis_right=ret > 0,
                    broken=() if ret > 0 else ("rsi_14 < 70",),
                )
            )
        )
        items.append(
            LessonRemembered(
                lesson=Lesson(
                    memory_id=f"lesson:{week_id}:{setup.account_id}:1",
                    week_id=week_id,
                    known_at=friday,
                    account_id=setup.account_id,
                    instrument=instrument,
                    text=f"{instrument}: {'held' if ret > 0 else 'broke'} as the week went",
                )
            )
        )
    items.append(
        SymbolNoteRemembered(
            note=SymbolNote(
                memory_id=f"symbol:{week_id}:SPY:A",
                week_id=week_id,
                known_at=monday,
                instrument="SPY",
                text="SPY: breadth narrowing, watch the 50 day average",
            )
        )
    )
    return items


def _weeks(n: int) -> list[date]:
    start = date(2024, 1, 1)
    return [start + timedelta(weeks=i) for i in range(n)]


@pytest.fixture
def memory(storage: Storage) -> PgMemory:
    return PgMemory(storage.conn, storage.events, PackagedEmbedder())


def _fill(memory: PgMemory, weeks: list[date], seed: int = 7) -> None:
    rng = random.Random(seed)
    for week_id in weeks:
        memory.remember(week_items(week_id, rng), week_id=week_id, run_id=f"run-{week_id}")


def _tables(storage: Storage) -> dict[str, list[tuple]]:
    dump = {}
    for table in (*TABLES, "memory_setup_vectors"):  # the last one is kept by triggers (migration 0009)
        key = "setup_id" if table == "memory_outcomes" else "memory_id"
        rows = storage.conn.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()
        dump[table] = [tuple(str(v) for v in row) for row in rows]
    return dump


def test_remember_writes_each_memory_once_across_reruns(memory: PgMemory, storage: Storage) -> None:
    week_id = date(2024, 1, 1)
    items = week_items(week_id, random.Random(1))
    memory.remember(items, week_id=week_id, run_id="r1")
    before = storage.events.count()
    memory.remember(items, week_id=week_id, run_id="r2")
    assert storage.events.count() == before
    assert storage.conn.execute("SELECT count(*) FROM memory_setups WHERE outcome IS NOT NULL").fetchone()[0] == 3
    stored = storage.conn.execute("SELECT count(*) FROM memory_items").fetchone()[0]
    assert stored == len(items)


def test_rebuild_reproduces_the_tables(memory: PgMemory, storage: Storage) -> None:
    _fill(memory, _weeks(6))
    before = _tables(storage)
    counts = memory.rebuild()
    assert counts.setups == 18 and counts.conditions == 6 and counts.outcomes == 18
    assert _tables(storage) == before


def test_a_memory_known_after_as_of_is_never_recalled(memory: PgMemory) -> None:
    """Property over 30 simulated weeks and 40 as-of times around the outcomes' instant: every read returns
    exactly the memories known strictly before as-of (asked for more hits than exist), never one after."""
    weeks = _weeks(30)
    rng = random.Random(7)
    known: dict[str, datetime] = {}  # memory id -> when it became visible (a setup: when its outcome did)
    for week_id in weeks:
        items = week_items(week_id, rng)
        # A lesson written a month late: its week is old, but it must stay hidden until it was written.
        late = Lesson(
            memory_id=f"lesson:{week_id}:acct-pm-a:late",
            week_id=week_id,
            known_at=_friday(week_id) + timedelta(days=30),
            account_id="acct-pm-a",
            instrument="SPY",
            text=f"LATE {week_id}",
        )
        items.append(LessonRemembered(lesson=late))
        memory.remember(items, week_id=week_id, run_id=None)
        for item in items:
            if isinstance(item, ConditionRemembered):
                known[item.condition.memory_id] = item.condition.known_at
            elif isinstance(item, OutcomeRemembered):
                known[item.outcome.setup_id] = item.outcome.known_at
            elif isinstance(item, SymbolNoteRemembered):
                known[item.note.memory_id] = item.note.known_at
            elif isinstance(item, LessonRemembered):
                known[item.lesson.memory_id] = item.lesson.known_at
    lessons_known = {mid: at for mid, at in known.items() if mid.startswith("lesson:")}
    late_texts = {f"LATE {w}": _friday(w) + timedelta(days=30) for w in weeks}
    rng = random.Random(11)
    for _ in range(40):
        as_of = _friday(rng.choice(weeks)) + timedelta(hours=rng.choice((-1, 0, 1, 60)), days=rng.choice((0, 0, 35)))
        visible = {mid for mid, at in known.items() if at < as_of}
        query = SetupQuery(
            instrument=rng.choice(INSTRUMENTS),
            direction="LONG",
            conviction=1,
            thesis=rng.choice(THESES),
            indicators=("rsi_14 < 70",),
            condition=week_items(weeks[0], rng)[0].condition,
        )
        setups = memory.similar_setups(query, as_of=as_of, limit=200)
        assert {h.memory_id for h in setups} == {m for m in visible if m.startswith("setup:")}
        for hit in setups:
            assert hit.outcome is not None and hit.outcome.known_at < as_of
            assert hit.setup is not None and hit.setup.known_at < as_of
            assert all(late_texts.get(text, as_of) < as_of for text in hit.lessons if text.startswith("LATE"))
        conditions = memory.similar_conditions(query.condition, as_of=as_of, limit=200)
        assert {h.memory_id for h in conditions} == {m for m in visible if m.startswith("condition:")} - {
            query.condition.memory_id
        }
        for hit in memory.symbol_context("SPY", as_of=as_of, limit=500):
            assert hit.memory_id in visible or (hit.kind == "setup" and hit.outcome.known_at < as_of)
            if hit.kind == "lesson":
                assert lessons_known[hit.memory_id] < as_of


def _queries(weeks: list[date]) -> list[tuple[SetupQuery, datetime]]:
    rng = random.Random(23)
    out = []
    for _ in range(15):
        week_id = rng.choice(weeks[5:])
        out.append(
            (
                SetupQuery(
                    instrument=rng.choice(INSTRUMENTS),
                    direction=rng.choice(("LONG", "SHORT")),
                    conviction=rng.choice((-2, -1, 1, 2)),
                    thesis=rng.choice(THESES),
                    indicators=("rsi_14 < 70",),
                    condition=week_items(week_id, rng)[0].condition,
                ),
                _friday(week_id) + timedelta(days=1),
            )
        )
    return out


def _answers(memory: PgMemory, queries: list[tuple[SetupQuery, datetime]]) -> list:
    found = []
    for query, as_of in queries:
        found.append(memory.similar_setups(query, as_of=as_of, limit=8))
        assert query.condition is not None
        found.append(memory.similar_conditions(query.condition, as_of=as_of, limit=5))
        found.append(memory.symbol_context(query.instrument, as_of=as_of, limit=6))
    return found


def test_retrieval_is_identical_across_runs_rebuilds_and_databases(
    memory: PgMemory, storage: Storage, database_url: str, pg_admin_url: str
) -> None:
    weeks = _weeks(16)
    _fill(memory, weeks)
    queries = _queries(weeks)
    first = _answers(memory, queries)
    assert any(first[0::3]) and any(first[1::3]) and any(first[2::3])
    assert _answers(PgMemory(storage.conn, storage.events, PackagedEmbedder()), queries) == first
    memory.rebuild()
    assert _answers(memory, queries) == first
    # Another database filled the same way (another process, another run) recalls the same, in the same order.
    other = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{other}"')
    with open_storage(Settings(DATABASE_URL=_with_dbname(pg_admin_url, other)), FixedClock(FIXED_NOW)) as second:
        twin = PgMemory(second.conn, second.events, PackagedEmbedder())
        _fill(twin, weeks)
        assert _answers(twin, queries) == first


def test_ranks_are_dense_and_ties_are_broken_by_id(memory: PgMemory) -> None:
    weeks = _weeks(10)
    _fill(memory, weeks)
    for query, as_of in _queries(weeks):
        hits = memory.similar_setups(query, as_of=as_of, limit=10)
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
        keys = [(h.score, h.memory_id) for h in hits]
        assert keys == sorted(keys)


def test_an_outcome_remembered_before_its_setup_is_attached_when_the_setup_arrives(
    memory: PgMemory, storage: Storage
) -> None:
    week_id = date(2024, 1, 3)
    items = week_items(week_id, random.Random(2))
    outcomes = [i for i in items if isinstance(i, OutcomeRemembered)]
    memory.remember(outcomes, week_id=week_id, run_id=None)
    memory.remember(items, week_id=week_id, run_id=None)
    rows = storage.conn.execute("SELECT memory_id, outcome_known_at FROM memory_setups ORDER BY memory_id").fetchall()
    assert len(rows) == 3 and all(known is not None for _, known in rows)
    before = _tables(storage)
    memory.rebuild()
    assert _tables(storage) == before


def test_a_draft_store_projects_nothing(memory: PgMemory, storage: Storage) -> None:
    week_id = date(2024, 1, 3)
    draft = PgMemory(storage.conn, storage.events.draft(), PackagedEmbedder())
    draft.remember(week_items(week_id, random.Random(2)), week_id=week_id, run_id=None)
    assert storage.events.count() == 0
    assert storage.conn.execute("SELECT count(*) FROM memory_items").fetchone()[0] == 0


def test_the_events_say_what_was_remembered_on_the_weeks_memory_streams(memory: PgMemory, storage: Storage) -> None:
    week_id = date(2024, 1, 3)
    memory.remember(week_items(week_id, random.Random(2)), week_id=week_id, run_id="run-x")
    streams = {e.stream for e in storage.events.read(run_id="run-x")}
    assert streams == {
        f"week:{week_id}:memory:{part}"
        for part in ("condition", "pitches", "decision", "outcomes", "lessons", "symbols")
    }
