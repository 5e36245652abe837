"""The similar-setups read at speed: migration 0009's narrow table of vectors (kept by triggers) searched through its
HNSW index, the query's vector and the week arrays sent in binary, the condition distances' complete-history path."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from llmtrade.domain.memory import ConditionRemembered, MarketCondition, OutcomeRemembered
from llmtrade.memory import similar, store
from llmtrade.memory.conditions import FEATURES, Scale, distance
from llmtrade.memory.embedder import PackagedEmbedder
from llmtrade.memory.history import ConditionHistory
from llmtrade.memory.protocol import SetupQuery
from llmtrade.memory.store import PgMemory, vector_literal
from llmtrade.storage.bootstrap import Storage
from tests.support import migrate_around
from tests.test_memory_search import _answer, _fixture_items, _monday, _reference, _reference_queries
from tests.test_memory_store import THESES, _friday, _weeks, week_items

_SETUP_VECTORS = """SELECT memory_id, outcome_known_at, embedding_model, embedding::text FROM memory_setups
                    WHERE embedding_dims = 256 ORDER BY memory_id"""
_COPY = "SELECT memory_id, visible_from, embedding_model, embedding::text FROM memory_setup_vectors ORDER BY memory_id"


def test_the_vector_table_follows_the_setups_as_outcomes_arrive_through_rebuilds_and_deletes(storage: Storage) -> None:
    memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    rng = random.Random(3)
    items = [item for week_id in _weeks(4) for item in week_items(week_id, rng)]
    outcomes = [i for i in items if isinstance(i, OutcomeRemembered)]
    memory.remember([i for i in items if not isinstance(i, OutcomeRemembered)], week_id=_weeks(1)[0], run_id=None)
    copy = storage.conn.execute(_COPY).fetchall()
    assert len(copy) == 12 and all(row[1] is None for row in copy)  # no outcome yet: never visible
    assert copy == storage.conn.execute(_SETUP_VECTORS).fetchall()
    memory.remember(outcomes, week_id=_weeks(1)[0], run_id=None)
    copy = storage.conn.execute(_COPY).fetchall()
    assert copy == storage.conn.execute(_SETUP_VECTORS).fetchall()
    assert {row[0]: row[1] for row in copy} == {o.outcome.setup_id: o.outcome.known_at for o in outcomes}
    memory.rebuild()
    assert storage.conn.execute(_COPY).fetchall() == copy
    storage.conn.execute("DELETE FROM memory_setups WHERE memory_id = %s", (copy[0][0],))
    assert storage.conn.execute(_COPY).fetchall() == copy[1:]


def test_through_the_index_the_search_gives_the_exact_reference_with_the_point_in_time_cut(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fixture's 84 setups at hnsw.ef_search 100: the graph search sees every one, so the index path must give
    exactly the exact search's answer, ties, staggered outcomes and late lessons included."""
    monkeypatch.setattr(store, "EXACT_BELOW", 0)
    memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    memory.remember(_fixture_items(), week_id=_monday(0).date(), run_id=None)
    storage.conn.execute("SET enable_seqscan = off")
    plan = storage.conn.execute(
        "EXPLAIN " + similar._statement(True, 5, 20),
        {"v": vector_literal([1.0] + [0.0] * 255), "model": "m", "dims": 256, "t": _monday(12), "weeks": "{}"}
        | {"dists": "{}", "near_weeks": "{}", "near_dists": "{}", "instrument": "SPY", "direction": "LONG"}
        | {"conviction": 1},
    ).fetchall()
    assert any("memory_setup_vectors_hnsw" in row[0] for row in plan)
    for query, as_of, limit in _reference_queries():
        assert _answer(memory.similar_setups(query, as_of=as_of, limit=limit)) == _reference(
            storage, query, as_of, limit
        )


def test_through_the_index_a_setup_is_recalled_only_once_its_outcome_was_known(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's property over the index path: around each week's outcome instant, a read returns exactly the
    setups whose outcome was known strictly before as-of (asked for more than exist)."""
    monkeypatch.setattr(store, "EXACT_BELOW", 0)
    memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    weeks = _weeks(12)
    rng = random.Random(5)
    known: dict[str, datetime] = {}
    for week_id in weeks:
        items = week_items(week_id, rng)
        memory.remember(items, week_id=week_id, run_id=None)
        known |= {i.outcome.setup_id: i.outcome.known_at for i in items if isinstance(i, OutcomeRemembered)}
    for n, week_id in enumerate(weeks):
        for shift in (timedelta(microseconds=-1), timedelta(0), timedelta(microseconds=1)):
            as_of = _friday(week_id) + shift
            query = SetupQuery(instrument="SPY", direction="LONG", conviction=1, thesis=THESES[n % len(THESES)])
            found = {h.memory_id for h in memory.similar_setups(query, as_of=as_of, limit=60)}
            assert found == {mid for mid, at in known.items() if at < as_of}


def test_the_query_vector_and_the_week_arrays_reach_the_server_bit_for_bit(storage: Storage) -> None:
    conn = storage.conn
    for cls, dumper in similar._DUMPERS:
        conn.adapters.register_dumper(cls, dumper)
    values = PackagedEmbedder().embed(["momentum breakout above the 50 day average"])[0]
    back = conn.execute("SELECT %s::vector::real[]::float8[]", (similar.VectorBytes.of(values),)).fetchone()[0]
    assert back == values  # the float4s exactly (values are Python floats of float32s)
    same = conn.execute(
        "SELECT %s::vector(256) = %s::vector(256)", (similar.VectorBytes.of(values), vector_literal(values))
    )
    assert same.fetchone()[0] is True  # the binary form is the text form's vector
    days = np.array(["1999-12-31", "2000-01-01", "2024-02-29", "2016-01-04"], dtype="datetime64[D]")
    dates = conn.execute("SELECT %s::date[]", (similar._DateArray.of(days),)).fetchone()[0]
    assert dates == [date(1999, 12, 31), date(2000, 1, 1), date(2024, 2, 29), date(2016, 1, 4)]
    assert conn.execute("SELECT %s::date[]", (similar._DateArray.of(days[:0]),)).fetchone()[0] == []
    near = similar._week_arrays(days, np.array([0.5, 1.0, 1.0, 2.0]))
    # The nearest weeks by date (the fast path's binary search), each with its own distance.
    assert conn.execute("SELECT %s::date[], %s::float8[]", (near["near_weeks"], near["near_dists"])).fetchone() == (
        sorted(dates),
        [0.5, 1.0, 2.0, 1.0],
    )


def test_a_weeks_tie_at_the_nearest_weeks_edge_is_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(similar, "NEAREST_WEEKS", 2)
    days = np.array(["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"], dtype="datetime64[D]")
    arrays = similar._week_arrays(days, np.array([0.5, 1.0, 1.0, 2.0]))
    # Three weeks, not two: the third is as near as the second. The prefix is the whole array's first three.
    assert bytes(arrays["near_dists"])[20:] == bytes(arrays["dists"])[20 : 20 + 3 * 12]
    assert bytes(arrays["near_weeks"])[20:] == bytes(arrays["weeks"])[20 : 20 + 3 * 8]
    assert bytes(arrays["near_weeks"])[12:16] == (3).to_bytes(4, "big")


def _complete(n: int) -> list[MarketCondition]:
    rng = random.Random(8)
    start = date(2023, 1, 2)
    return [
        MarketCondition(
            memory_id=f"condition:{start + timedelta(weeks=i)}",
            week_id=start + timedelta(weeks=i),
            known_at=datetime.combine(start + timedelta(weeks=i), datetime.min.time(), UTC),
            session=start + timedelta(weeks=i, days=-3),
            names=FEATURES,
            values=tuple(rng.gauss(j, 1 + j) for j in range(len(FEATURES))),
        )
        for i in range(n)
    ]


def _held(storage: Storage, conditions: list[MarketCondition]) -> ConditionHistory:
    PgMemory(storage.conn, storage.events, PackagedEmbedder()).remember(
        [ConditionRemembered(condition=c) for c in conditions], week_id=conditions[0].week_id, run_id=None
    )
    history = ConditionHistory()
    history.refresh(storage.conn, history.read_version(storage.conn))
    return history


def test_a_complete_history_is_scored_with_the_same_bits_as_the_nan_aware_path(storage: Storage) -> None:
    conditions = _complete(40)
    history = _held(storage, conditions)
    checked = 0
    for k in (1, 2, 3, 17, 40):
        as_of = conditions[k - 1].known_at + timedelta(hours=1)
        target = conditions[(k * 7) % 40]
        fast = history.distances(target, as_of)
        visible = np.flatnonzero(history._known < as_of.timestamp())
        columns = np.array([target.values[FEATURES.index(name)] for name in history._names])
        rows, dists = history._scored_gappy(visible, columns)
        assert fast == [(float(d), history._ids[j], history._rows[j]) for j, d in zip(rows, dists, strict=True)]
        scale = Scale([(c.names, c.values) for c in conditions[:k]])
        for d, mid, _ in fast:
            other = next(c for c in conditions if c.memory_id == mid)
            expected = distance(scale.z(target.names, target.values), scale.z(other.names, other.values))
            assert d == pytest.approx(expected, rel=1e-12)
        checked += len(fast)
    assert checked == 2 + 3 + 17 + 40  # one visible week has no spread: nothing is comparable


def test_a_week_missing_a_feature_is_scored_by_the_features_it_has(storage: Storage) -> None:
    conditions = _complete(12)
    values = list(conditions[4].values)
    values[3] = None
    conditions[4] = conditions[4].model_copy(update={"values": tuple(values)})
    history = _held(storage, conditions)
    as_of = conditions[-1].known_at + timedelta(hours=1)
    scale = Scale([(c.names, c.values) for c in conditions])
    got = {mid: d for d, mid, _ in history.distances(conditions[0], as_of)}
    for c in conditions:
        expected = distance(scale.z(conditions[0].names, conditions[0].values), scale.z(c.names, c.values))
        assert math.isfinite(expected) and got[c.memory_id] == pytest.approx(expected, rel=1e-12)


def test_the_migration_copies_the_setups_already_stored(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database filled before 0009 (its setups only in memory_setups) gets every 256-dimension vector copied."""
    import psycopg

    from llmtrade.storage import migrations

    def fill(storage: Storage) -> None:
        assert storage.conn.execute("SELECT to_regclass('memory_setup_vectors')").fetchone() == (None,)
        memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
        rng = random.Random(4)
        for week_id in _weeks(3):
            memory.remember(week_items(week_id, rng), week_id=week_id, run_id=None)

    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        applied = migrate_around(conn, empty_database_url, 9, fill, monkeypatch)
        assert applied == [m.number for m in migrations.available() if m.number >= 9]
        copied = conn.execute(_COPY).fetchall()
        assert len(copied) == 9 and copied == conn.execute(_SETUP_VECTORS).fetchall()
        assert all(row[1] is not None for row in copied)


def test_the_exact_search_of_the_packaged_vectors_scans_the_narrow_table_and_gives_the_reference(
    storage: Storage,
) -> None:
    """Below store.EXACT_BELOW (a backtest's memory) the exact text ranking reads memory_setup_vectors, never the
    wide memory_setups rows, and answers exactly as the reference does."""
    memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    memory.remember(_fixture_items(), week_id=_monday(0).date(), run_id=None)
    text = similar._TEXT_EXACT_NARROW.format(depth=20)
    plan = [
        row[0]
        for row in storage.conn.execute(
            "EXPLAIN " + text, {"v": vector_literal([1.0] + [0.0] * 255), "model": "m", "t": _monday(12)}
        ).fetchall()
    ]
    assert any("memory_setup_vectors" in line for line in plan)
    assert not any("memory_setups " in f"{line} " for line in plan)
    sent: list[str] = []
    execute = storage.conn.execute

    def spied(query: str, *args: object, **kw: object) -> object:
        sent.append(query)
        return execute(query, *args, **kw)  # type: ignore[arg-type]

    for query, as_of, limit in _reference_queries():
        storage.conn.execute = spied  # type: ignore[method-assign]
        try:
            found = memory.similar_setups(query, as_of=as_of, limit=limit)
        finally:
            del storage.conn.execute
        assert _answer(found) == _reference(storage, query, as_of, limit)
    searches = [q for q in sent if "WITH text AS" in q]
    assert searches and all(similar._TEXT_EXACT_NARROW.format(depth=20) in q for q in searches if "LIMIT 20" in q)
    assert not any("FROM memory_setups\n    WHERE embedding_dims" in q for q in searches)
