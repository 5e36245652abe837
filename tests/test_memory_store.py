"""The memory over the real embedded PostgreSQL: writing once, projecting, rebuilding, point-in-time recall."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

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
from llmtrade.storage.bootstrap import Storage

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
    for table in TABLES:
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
    weeks = _weeks(30)
    _fill(memory, weeks)
    rng = random.Random(11)
    for _ in range(40):
        as_of = _friday(rng.choice(weeks)) + timedelta(hours=rng.choice((-1, 0, 1, 60)))
        query = SetupQuery(
            instrument=rng.choice(INSTRUMENTS),
            direction="LONG",
            conviction=1,
            thesis=rng.choice(THESES),
            indicators=("rsi_14 < 70",),
            condition=week_items(weeks[0], rng)[0].condition,
        )
        for hit in memory.similar_setups(query, as_of=as_of, limit=10):
            assert hit.outcome is not None and hit.outcome.known_at < as_of
            assert hit.setup is not None and hit.setup.known_at < as_of
        for hit in memory.similar_conditions(query.condition, as_of=as_of, limit=10):
            assert hit.condition is not None and hit.condition.known_at < as_of
        for hit in memory.symbol_context(query.instrument, as_of=as_of, limit=10):
            if hit.note is not None:
                assert hit.note.known_at < as_of
            if hit.outcome is not None:
                assert hit.outcome.known_at < as_of
