"""Similar setups in one statement (memory/similar.py) against an exact-search reference written here in Python:
the same hits, ranks, scores and lessons, with ties and the point-in-time cut, through the HNSW index."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

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
)
from llmtrade.memory import similar
from llmtrade.memory.conditions import FEATURES
from llmtrade.memory.embedder import PackagedEmbedder
from llmtrade.memory.history import ConditionHistory
from llmtrade.memory.protocol import SetupQuery
from llmtrade.memory.store import PgMemory, setup_text, vector_literal
from llmtrade.storage.bootstrap import Storage
from tests.test_memory_store import _fill, _queries, _weeks

THESES = (
    "momentum breakout above the 50 day average with rising breadth",
    "rates falling, duration rallies as inflation cools",
    "mean reversion after an oversold RSI in a range",
    "gold bid on a weaker dollar and geopolitical risk",
)
START = date(2024, 1, 1)


def _monday(week: int) -> datetime:
    return datetime.combine(START + timedelta(weeks=week), datetime.min.time(), UTC).replace(hour=13)


def _fixture_items() -> list[Any]:
    """12 weeks of 7 setups on two instruments. Ties on purpose: pairs of setups with the same text (equal text
    distances), many with the same instrument, direction, conviction and week (equal numeric keys). Outcomes
    and lessons arrive at staggered times (some weeks late), so an as-of time cuts through them."""
    rng = random.Random(5)
    items: list[Any] = []
    for week in range(12):
        monday = _monday(week)
        items.append(
            ConditionRemembered(
                condition=MarketCondition(
                    memory_id=f"condition:{week:02d}",
                    week_id=monday.date(),
                    known_at=monday,
                    session=monday.date() - timedelta(days=3),
                    names=FEATURES,
                    values=tuple(rng.gauss(0, 1) for _ in FEATURES),
                )
            )
        )
        first_text: tuple[str, str] | None = None
        for k in range(7):
            direction = "LONG" if k % 3 else "SHORT"
            text = (rng.choice(THESES), f"rsi_14 < {rng.randint(50, 90)}")
            first_text = first_text or text
            if k == 6 and first_text is not None:  # the week's first setup's twin: the same text distance
                text = first_text
            setup = Setup(
                memory_id=f"setup:{week:02d}:{k}",
                week_id=monday.date(),
                known_at=monday,
                source="pitch",
                author=f"pm-{k}",
                account_id=f"acct-{k}",
                instrument="SPY" if k < 4 else "TLT",
                direction=direction,
                conviction=1 if direction == "LONG" else -1,
                thesis=text[0],
                indicators=(text[1],),
            )
            known = monday + timedelta(days=4, hours=8 + 24 * rng.choice((0, 0, 0, 3, 10)))
            ret = rng.gauss(0, 0.02)
            items.append(SetupRemembered(setup=setup))
            items.append(
                OutcomeRemembered(
                    outcome=Outcome(
                        setup_id=setup.memory_id,
                        week_id=setup.week_id,
                        known_at=known,
                        account_id=setup.account_id,
                        week_return=ret,
                        week_pnl=ret * 1e5,
                        instrument_return=ret,
                        thesis_right=ret > 0,
                        broken=(),
                    )
                )
            )
            if k % 2 == 0:
                items.append(
                    LessonRemembered(
                        lesson=Lesson(
                            memory_id=f"lesson:{week:02d}:{k}",
                            week_id=setup.week_id,
                            known_at=known + timedelta(days=rng.choice((0, 2))),
                            account_id=setup.account_id,
                            instrument=setup.instrument,
                            text=f"week {week} setup {k}: {'held' if ret > 0 else 'broke'}",
                        )
                    )
                )
    return items


def _reference(storage: Storage, query: SetupQuery, as_of: datetime, limit: int) -> list[tuple[Any, ...]]:
    """The issue's definition, computed exactly: visible setups (outcome known before as-of) ranked by exact
    cosine distance (a full scan) and by (other direction, |conviction gap|, week distance, id), each cut to
    the depth, fused by 1/(60 + rank), best first with ties by id; lessons known before as-of."""
    conn = storage.conn
    depth = max(limit * 4, 20)
    vector = vector_literal(PackagedEmbedder().embed([setup_text(query.thesis, query.indicators)])[0])
    rows = conn.execute(
        """SELECT memory_id, instrument, direction, conviction, week_id, embedding <=> %s::vector, account_id
           FROM memory_setups WHERE outcome_known_at < %s""",
        (vector, as_of),
    ).fetchall()
    text = sorted(rows, key=lambda r: (r[5], r[0]))[:depth]
    week_distance: dict[date, float] = {}
    if query.condition is not None:
        history = ConditionHistory()
        history.refresh(conn, history.read_version(conn))
        week_distance = {row[1]: d for d, _, row in history.distances(query.condition, as_of)}
    same = [r for r in rows if r[1] == query.instrument]
    numeric = sorted(
        same,
        key=lambda r: (r[2] != query.direction, abs(r[3] - query.conviction), week_distance.get(r[4], math.inf), r[0]),
    )[:depth]
    fused: dict[str, float] = {}
    for ranking in (text, numeric):
        for rank, row in enumerate(ranking, start=1):
            fused[row[0]] = fused.get(row[0], 0.0) + 1.0 / (60 + rank)
    chosen = sorted(fused, key=lambda mid: (-fused[mid], mid))[:limit]
    by_id = {r[0]: r for r in rows}
    out = []
    for rank, mid in enumerate(chosen, start=1):
        lessons = conn.execute(
            """SELECT text FROM memory_lessons WHERE week_id = %s AND account_id = %s AND known_at < %s
               ORDER BY memory_id""",
            (by_id[mid][4], by_id[mid][6], as_of),
        ).fetchall()
        out.append((mid, rank, 1.0 / fused[mid], tuple(r[0] for r in lessons)))
    return out


@pytest.fixture
def filled(storage: Storage) -> PgMemory:
    memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    memory.remember(_fixture_items(), week_id=START, run_id=None)
    return memory


def _reference_queries() -> list[tuple[SetupQuery, datetime, int]]:
    rng = random.Random(17)
    conditions = [i.condition for i in _fixture_items() if isinstance(i, ConditionRemembered)]
    out = []
    for n in range(24):
        week = rng.randrange(3, 14)
        direction = rng.choice(("LONG", "SHORT"))
        out.append(
            (
                SetupQuery(
                    instrument=rng.choice(("SPY", "TLT")),
                    direction=direction,
                    conviction=1 if direction == "LONG" else -1,
                    thesis=rng.choice(THESES),
                    indicators=(f"rsi_14 < {rng.randint(50, 90)}",),
                    condition=None if n % 5 == 0 else conditions[min(week, 11)],
                ),
                _monday(week) + timedelta(hours=rng.choice((0, 19, 27, 80))),
                (1, 3, 5, 10)[n % 4],
            )
        )
    return out


def _answer(hits: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    return [(h.memory_id, h.rank, h.score, h.lessons) for h in hits]


def _extreme_condition() -> MarketCondition:
    """Week 12's condition, far from every other week: added later, it changes every z-score."""
    return MarketCondition(
        memory_id="condition:12",
        week_id=_monday(12).date(),
        known_at=_monday(12),
        session=_monday(12).date() - timedelta(days=3),
        names=FEATURES,
        values=tuple(50.0 * (-1) ** i for i in range(len(FEATURES))),
    )


def test_the_one_statement_search_returns_the_exact_reference_with_ties_and_the_point_in_time_cut(
    filled: PgMemory, storage: Storage
) -> None:
    # A table this small would be scanned; the index is what runs at scale, so it is what is tested here.
    storage.conn.execute("SET enable_seqscan = off")
    plan = storage.conn.execute(
        "EXPLAIN " + similar._statement(True, 5, 20),
        {"v": vector_literal([1.0] + [0.0] * 255), "model": "m", "dims": 256, "t": _monday(12), "weeks": "{}"}
        | {
            "dists": "{}",
            "near_weeks": "{}",
            "near_dists": "{}",
            "instrument": "SPY",
            "direction": "LONG",
            "conviction": 1,
        },
    ).fetchall()
    assert any("memory_setup_vectors_hnsw" in row[0] for row in plan)
    tied = cut = 0
    for query, as_of, limit in _reference_queries():
        expected = _reference(storage, query, as_of, limit)
        assert _answer(filled.similar_setups(query, as_of=as_of, limit=limit)) == expected
        exact = similar.similar_setups(storage.conn, filled.embedder, query, as_of=as_of, limit=limit, exact=True)
        assert _answer(exact) == expected
        scores = [e[2] for e in expected]
        tied += len(set(scores)) < len(scores)
        hidden = storage.conn.execute(
            "SELECT count(*) FROM memory_setups WHERE known_at < %s AND outcome_known_at >= %s", (as_of, as_of)
        ).fetchone()[0]
        cut += hidden > 0
    assert tied >= 2 and cut >= 10  # the fixture does exercise tied scores and the cut


def test_settings_changed_under_the_search_are_put_back_before_it_answers(
    filled: PgMemory, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmtrade.memory import store

    monkeypatch.setattr(store, "EXACT_BELOW", 0)  # through the index, small as the fixture is
    query, as_of, _ = _reference_queries()[1]
    expected = _answer(filled.similar_setups(query, as_of=as_of, limit=10))
    # Another caller (or a rolled-back transaction) left an index scan that would stop at 1 row, unfiltered.
    storage.conn.execute(
        "SELECT set_config('hnsw.ef_search', '1', false), set_config('hnsw.iterative_scan', 'off', false)"
    )
    storage.conn.execute("SET enable_seqscan = off")
    assert _answer(filled.similar_setups(query, as_of=as_of, limit=10)) == expected
    assert storage.conn.execute("SHOW hnsw.iterative_scan").fetchone()[0] == "relaxed_order"


def test_a_condition_remembered_elsewhere_is_seen_by_the_next_search(filled: PgMemory, storage: Storage) -> None:
    query, _, _ = _reference_queries()[1]
    as_of = _monday(14)
    before = _answer(filled.similar_setups(query, as_of=as_of, limit=10))
    assert before == _reference(storage, query, as_of, 10)
    # Another process's memory (its own history) adds a week's condition that changes every z-score.
    other = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    extreme = _extreme_condition()
    other.remember([ConditionRemembered(condition=extreme)], week_id=extreme.week_id, run_id=None)
    after = _answer(filled.similar_setups(query, as_of=as_of, limit=10))
    assert after == _reference(storage, query, as_of, 10)


def test_the_numeric_fast_path_gives_the_general_ordering(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    """With rankings only 1-3 deep, the fast path (the nearest weeks' first tier) answers most reads; every
    answer equals the one the general ordering alone gives."""
    memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    weeks = _weeks(30)
    _fill(memory, weeks)
    monkeypatch.setattr(similar, "CANDIDATES", 1)
    monkeypatch.setattr(similar, "MIN_DEPTH", 1)
    monkeypatch.setattr(similar, "NEAREST_WEEKS", 8)
    real = similar._week_params
    history = ConditionHistory()
    history.refresh(storage.conn, history.read_version(storage.conn))
    fast_answers = 0
    for query, as_of in _queries(weeks):
        for limit in (1, 2, 3):
            with_fast = memory.similar_setups(query, as_of=as_of, limit=limit)
            no_near = {k: similar._NO_WEEKS[k] for k in ("near_weeks", "near_dists")}
            monkeypatch.setattr(similar, "_week_params", lambda *a, no_near=no_near: {**real(*a), **no_near})
            general_only = memory.similar_setups(query, as_of=as_of, limit=limit)
            monkeypatch.setattr(similar, "_week_params", real)
            assert with_fast == general_only
            params = real(query, history, as_of) | {
                "instrument": query.instrument,
                "direction": query.direction,
                "conviction": query.conviction,
                "t": as_of,
            }
            fast_answers += len(storage.conn.execute(similar.FAST.format(depth=limit), params).fetchall()) == limit
    assert fast_answers >= 8  # the fast path did answer (10 of these 45 reads), not only fall back


def test_a_memory_with_few_setups_reads_them_exactly_and_a_large_one_through_the_index(
    filled: PgMemory, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs of one backtest build two HNSW graphs from different random draws; below EXACT_BELOW setups
    the reads scan exactly, so the same memories give the same answers in every database."""
    from llmtrade.memory import recall, store

    asked: list[bool] = []
    real = recall.similar_setups

    def spy(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs["exact"])
        return real(*args, **kwargs)

    monkeypatch.setattr(recall, "similar_setups", spy)
    storage.conn.execute("ANALYZE memory_setups")
    query, as_of, limit = _reference_queries()[0]
    small = filled.similar_setups(query, as_of=as_of, limit=limit)
    assert asked == [True]
    assert [h.memory_id for h in small] == [row[0] for row in _reference(storage, query, as_of, limit)]
    monkeypatch.setattr(store, "EXACT_BELOW", 0)
    large = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    large.similar_setups(query, as_of=as_of, limit=limit)
    assert asked == [True, False]


def test_a_weeks_later_reads_reuse_its_condition_distances_until_a_condition_arrives(
    filled: PgMemory, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pitch, checkpoint and validator reads of one week compare the same condition at the same as-of time:
    the distances are computed once, and again (to the reference's answer) once another condition is stored."""
    computed: list[datetime] = []
    real = ConditionHistory.nearest_weeks

    def counted(self: ConditionHistory, condition: MarketCondition, as_of: datetime) -> Any:
        computed.append(as_of)
        return real(self, condition, as_of)

    monkeypatch.setattr(ConditionHistory, "nearest_weeks", counted)
    query, _, _ = _reference_queries()[1]
    assert query.condition is not None
    as_of = _monday(14)
    other_text = query.model_copy(update={"thesis": "a different pitch in the same week"})
    first = _answer(filled.similar_setups(query, as_of=as_of, limit=10))
    filled.similar_setups(other_text, as_of=as_of, limit=10)
    assert _answer(filled.similar_setups(query, as_of=as_of, limit=10)) == first
    assert computed == [as_of]
    filled.similar_setups(query, as_of=as_of + timedelta(days=7), limit=10)  # another week: its own distances
    assert len(computed) == 2
    extreme = _extreme_condition()
    PgMemory(storage.conn, storage.events, PackagedEmbedder()).remember(
        [ConditionRemembered(condition=extreme)], week_id=extreme.week_id, run_id=None
    )
    after = _answer(filled.similar_setups(query, as_of=as_of, limit=10))
    assert len(computed) == 3 and after == _reference(storage, query, as_of, 10) != first


def test_a_value_computed_while_the_history_was_re_read_is_not_kept(storage: Storage) -> None:
    history = ConditionHistory()
    history.refresh(storage.conn, history.read_version(storage.conn))
    calls: list[int] = []

    def racing() -> int:
        calls.append(1)
        history.refresh(storage.conn, (-1, -1))  # another reader saw a newer table meanwhile
        return len(calls)

    assert history.memo("k", racing) == 1
    assert history.memo("k", lambda: 99) == 99  # not the stale 1: computed again
    assert history.memo("k", lambda: 7) == 99  # and now kept


def test_the_week_distances_reach_the_server_bit_for_bit(storage: Storage) -> None:
    """Sent in binary: every distance (near-ties, the extremes, infinity) arrives as the same float8, so the
    SQL orders them as numpy did."""
    storage.conn.adapters.register_dumper(similar._Float8Array, similar._Float8ArrayDumper)
    values = [0.1 + 0.2, 0.3, 1 / 3, 5e-324, 1.7976931348623157e308, math.inf, 2.0]
    back = storage.conn.execute("SELECT %s::float8[]", (similar._Float8Array.of(values),)).fetchone()[0]
    assert back == values and back[0] != back[1]
    assert storage.conn.execute("SELECT %s::float8[]", (similar._Float8Array.of([]),)).fetchone()[0] == []
