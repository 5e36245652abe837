"""Similar setups answered in the process (memory/held_setups.py, held_ranking.py) against the statement's answer
(memory/similar.py) over a real PostgreSQL with pgvector: the same hits, ranks, scores, records, outcomes and lessons
on many random queries, with exact ties (equal vectors), near-ties (vectors a hair apart: the server's own distances
decide) and the point-in-time cuts, told across `remember` batches and read afresh."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
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
)
from llmtrade.memory.conditions import FEATURES
from llmtrade.memory.held_ranking import cosine_distances, distance_error, text_ranking
from llmtrade.memory.held_setups import HeldSetups
from llmtrade.memory.history import ConditionHistory
from llmtrade.memory.projection import StoredIds
from llmtrade.memory.protocol import SetupQuery
from llmtrade.memory.similar import VectorBytes, teach_binary
from llmtrade.memory.store import PgMemory
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW

START = date(2024, 1, 1)
WEEKS = 12
INSTRUMENTS = ("SPY", "TLT", "GLD")
# Ids and accounts whose code-point order differs from a linguistic collation's (case, punctuation).
TAGS = ("A", "a", "B_2", "b-1", "a.b", "Z", "_x", "aa")
# How far a setup's vector strays from its base vector: 0 is the same vector (an exact tie); 1e-7..3e-5 are near-ties
# (closer than the error bound: the server's own distances order them); 1e-2 and 0.3 are ordinary neighbours.
STRAYS = (0.0, 0.0, 1e-7, 1e-6, 1e-5, 3e-5, 1e-4, 1e-2, 0.3)


class VectorEmbedder:
    """256-dimension unit vectors made from the text "v<base>:<stray>:<seed>": base vector <base> (one of a few random
    directions), moved by <stray> along random direction <seed>, normalised, as float32 (what pgvector stores)."""

    model = "test/near-ties"
    dims = 256

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._vector(text) for text in texts]

    @staticmethod
    def _vector(text: str) -> list[float]:
        if not text.startswith("v"):  # a lesson's: any fixed vector of its own
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
            text = f"v{100 + seed % 1000}:0:0"
        base, stray, seed_text = text.removeprefix("v").split(":")
        direction = np.random.default_rng(int(base)).standard_normal(256)
        if float(stray):
            other = np.random.default_rng(10_000 + int(seed_text)).standard_normal(256)
            direction = direction / np.linalg.norm(direction) + float(stray) * other / np.linalg.norm(other)
        return (direction / np.linalg.norm(direction)).astype(np.float32).tolist()


def _text(rng: random.Random) -> str:
    return f"v{rng.randrange(4)}:{rng.choice(STRAYS)}:{rng.randrange(40)}"


def _monday(week: int) -> datetime:
    return datetime.combine(START + timedelta(weeks=week), datetime.min.time(), UTC).replace(hour=13)


def _weeks_items(rng: random.Random) -> list[list[Any]]:
    """Per week: its condition, ~24 setups on three instruments (some never get an outcome), their outcomes at
    staggered times (some remembered a week before their setup: the setup picks it up when stored) and lessons."""
    batches: list[list[Any]] = [[] for _ in range(WEEKS)]
    for week in range(WEEKS):
        monday = _monday(week)
        batches[week].append(
            ConditionRemembered(
                condition=MarketCondition(
                    memory_id=f"condition:{monday.date()}",
                    week_id=monday.date(),
                    known_at=monday,
                    session=monday.date() - timedelta(days=3),
                    names=FEATURES,
                    values=tuple(None if rng.random() < 0.05 else rng.gauss(0, 1) for _ in FEATURES),
                )
            )
        )
        for k in range(24):
            direction = rng.choice(("LONG", "SHORT", "FLAT"))
            conviction = 0 if direction == "FLAT" else rng.choice((1, 2)) * (1 if direction == "LONG" else -1)
            account = f"acct-{rng.choice(TAGS)}"
            setup = Setup(
                memory_id=f"setup:{week:02d}:{rng.choice(TAGS)}{k}",
                week_id=monday.date(),
                known_at=monday,
                source="pitch",
                author=f"pm-{k}",
                account_id=account,
                instrument=rng.choice(INSTRUMENTS),
                direction=direction,
                conviction=conviction,
                thesis=_text(rng),
                indicators=(),
            )
            batches[week].append(SetupRemembered(setup=setup))
            if rng.random() < 0.1:
                continue  # no outcome: never recalled
            known = monday + timedelta(days=4, hours=8 + 24 * rng.choice((0, 0, 1, 3, 10)))
            ret = rng.gauss(0, 0.02)
            outcome = Outcome(
                setup_id=setup.memory_id,
                week_id=setup.week_id,
                known_at=known,
                account_id=account,
                week_return=ret,
                week_pnl=ret * 1e5,
                instrument_return=ret,
                thesis_right=ret > 0,
                broken=(),
            )
            early = week > 0 and rng.random() < 0.15
            batches[week - 1 if early else week].append(OutcomeRemembered(outcome=outcome))
            for n in range(rng.choice((0, 1, 2))):
                batches[week].append(
                    LessonRemembered(
                        lesson=Lesson(
                            memory_id=f"lesson:{week:02d}:{account}:{rng.choice(TAGS)}{k}.{n}",
                            week_id=setup.week_id,
                            known_at=known + timedelta(days=rng.choice((0, 1, 5))),
                            account_id=account,
                            instrument=setup.instrument,
                            text=f"week {week} setup {k} lesson {n}",
                        )
                    )
                )
    return batches


def _queries(rng: random.Random, conditions: list[MarketCondition], upto: int, count: int) -> list[tuple[Any, ...]]:
    out = []
    for _ in range(count):
        direction = rng.choice(("LONG", "SHORT", "FLAT"))
        week = rng.randrange(1, upto + 3)
        query = SetupQuery(
            instrument=rng.choice((*INSTRUMENTS, "QQQ")),
            direction=direction,
            conviction=rng.choice((-2, -1, 0, 1, 2)),
            thesis=_text(rng),
            condition=None if rng.random() < 0.2 else conditions[min(week, len(conditions) - 1)],
        )
        as_of = _monday(week) + timedelta(hours=rng.choice((0, 19, 27, 80, 100, 150, 300)))
        out.append((query, as_of, rng.choice((1, 3, 5, 10, 12))))
    return out


def _held_memory(storage: Storage, held: HeldSetups) -> PgMemory:
    """A memory as a backtest's jobs get it: the only writer (its store holds its appends), with the shared history,
    stored ids and held setups."""
    events = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    return PgMemory(
        storage.conn, events, VectorEmbedder(), history=ConditionHistory(), stored_ids=StoredIds(), held=held
    )


def test_held_answers_are_the_statements_on_random_queries_with_ties_and_near_ties(storage: Storage) -> None:
    rng = random.Random(11)
    batches = _weeks_items(rng)
    conditions = [i.condition for batch in batches for i in batch if isinstance(i, ConditionRemembered)]
    held = HeldSetups()
    memory = _held_memory(storage, held)
    statement = PgMemory(storage.conn, storage.events, VectorEmbedder())  # no held setups: the statement answers
    asked = 0
    for week, batch in enumerate(batches):
        memory.remember(batch, week_id=_monday(week).date(), run_id=None)
        if week % 3 != 2:
            continue  # reads after some batches: the held setups are told of the ones between
        for query, as_of, limit in _queries(rng, conditions, week, 60):
            expected = statement.similar_setups(query, as_of=as_of, limit=limit)
            assert memory.similar_setups(query, as_of=as_of, limit=limit) == expected, (query, as_of, limit)
            asked += 1
    assert held.answered == asked and held.unproven == 0  # every read answered in the process
    assert held.tied > 20  # near-ties were met, and decided by the server's distances
    # Read afresh from the tables, the same answers.
    fresh = _held_memory(storage, HeldSetups())
    for query, as_of, limit in _queries(random.Random(5), conditions, WEEKS, 80):
        expected = statement.similar_setups(query, as_of=as_of, limit=limit)
        assert fresh.similar_setups(query, as_of=as_of, limit=limit) == expected, (query, as_of, limit)


def test_exact_ties_and_the_point_in_time_cut_are_exercised(storage: Storage) -> None:
    # The fixture's reads do meet equal server distances between different setups and setups hidden by the as-of time.
    rng = random.Random(11)
    batches = _weeks_items(rng)
    memory = _held_memory(storage, HeldSetups())
    for week, batch in enumerate(batches):
        memory.remember(batch, week_id=_monday(week).date(), run_id=None)
    teach_binary(storage.conn)
    vector = VectorBytes.of(VectorEmbedder().embed(["v1:0.0:0"])[0])
    rows = storage.conn.execute(
        "SELECT memory_id, embedding <=> %s::vector(256) FROM memory_setup_vectors", (vector,)
    ).fetchall()
    distances = [d for _, d in rows]
    assert len(distances) - len(set(distances)) > 50  # exact ties
    hidden = storage.conn.execute(
        """SELECT count(*) FROM memory_setups
           WHERE known_at < %s AND (outcome_known_at IS NULL OR outcome_known_at >= %s)""",
        (_monday(6), _monday(6)),
    ).fetchone()
    assert hidden is not None and hidden[0] > 10


def test_pgvector_distances_lie_within_the_proven_error(storage: Storage) -> None:
    # The bound held_ranking rests on, checked against the server on unit vectors of every kind: random, sparse, with
    # a wide spread of magnitudes, and nearly equal to the query.
    rng = np.random.default_rng(3)
    vectors = [rng.standard_normal(256) for _ in range(200)]
    vectors += [np.where(rng.random(256) < 0.05, rng.standard_normal(256), 0.0) + 1e-9 for _ in range(50)]
    vectors += [rng.standard_normal(256) * np.exp(rng.uniform(-12, 3, 256)) for _ in range(50)]
    units = [(v / np.linalg.norm(v)).astype(np.float32) for v in vectors]
    error = distance_error(256)
    teach_binary(storage.conn)
    worst = 0.0
    for query in units[:12] + units[200:204] + units[250:254]:
        near = [query + np.float32(1e-6) * units[k] for k in range(5)]
        rows = [*units, *(n / np.linalg.norm(n) for n in near)]
        batch = np.array(rows, dtype=np.float32)
        served = storage.conn.execute(
            "SELECT a <=> %s::vector(256) FROM unnest(%s::vector(256)[]) AS a",
            (VectorBytes.of(query), ["[" + ",".join(repr(float(x)) for x in r) + "]" for r in batch]),
        ).fetchall()
        mine = cosine_distances(
            batch.astype(np.float64), (batch.astype(np.float64) ** 2).sum(axis=1), query.astype(np.float64)
        )
        assert mine is not None
        gaps = np.abs(np.array([d for (d,) in served]) - mine)
        worst = max(worst, float(gaps.max()))
    assert worst <= error
    assert worst > 0  # the server's float32 sums do differ from float64: the bound is what makes them agree


def test_a_near_tie_is_ordered_by_the_servers_distances_and_equal_vectors_by_id() -> None:
    ids = ["s:b", "s:a", "s:c", "s:d", "s:e"]
    groups = np.array([0, 0, 1, 2, 3])
    # b and a: one vector (ordered by id); c and d: a near-tie the server decides (d first); e: far.
    distances = np.array([0.1, 0.1, 0.2, 0.2 + 1e-6, 0.9])
    asked: list[list[str]] = []

    def exact(rows: list[int]) -> list[float]:
        asked.append(sorted(ids[r] for r in rows))
        return [{"s:c": 0.25, "s:d": 0.24}[ids[r]] for r in rows]

    assert text_ranking(ids, groups, distances, 4, 1e-5, exact) == ["s:a", "s:b", "s:d", "s:c"]
    assert asked == [["s:c", "s:d"]]
    # A near-tie past the depth is not asked about: it cannot reach the ranking.
    asked.clear()
    assert text_ranking(ids, groups, distances, 2, 1e-5, exact) == ["s:a", "s:b"]
    assert asked == []
    # A near-tie straddling the cut is: which of the two makes the ranking is the server's call.
    assert text_ranking(ids, groups, distances, 3, 1e-5, exact) == ["s:a", "s:b", "s:d"]


def test_a_remember_rolled_back_is_forgotten_and_the_tables_read_again(storage: Storage) -> None:
    rng = random.Random(2)
    batches = _weeks_items(rng)
    conditions = [i.condition for batch in batches for i in batch if isinstance(i, ConditionRemembered)]
    held = HeldSetups()
    memory = _held_memory(storage, held)
    statement = PgMemory(storage.conn, storage.events, VectorEmbedder())
    for week, batch in enumerate(batches[:6]):
        memory.remember(batch, week_id=_monday(week).date(), run_id=None)
    queries = _queries(rng, conditions, 8, 30)
    for query, as_of, limit in queries:
        memory.similar_setups(query, as_of=as_of, limit=limit)  # read: held from here on
    with pytest.raises(RuntimeError), storage.conn.transaction():
        memory.remember(batches[6], week_id=_monday(6).date(), run_id=None)  # not committed: left to the caller
        raise RuntimeError("the caller rolls back")
    for query, as_of, limit in queries:
        expected = statement.similar_setups(query, as_of=as_of, limit=limit)
        assert memory.similar_setups(query, as_of=as_of, limit=limit) == expected
