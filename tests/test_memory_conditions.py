"""A week's market condition from its snapshot (pure), and how conditions are compared point-in-time."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta

import pytest

from llmtrade.domain.market import IndicatorSet
from llmtrade.domain.memory import ConditionRemembered, MarketCondition
from llmtrade.domain.research import MarketSnapshot
from llmtrade.memory.conditions import FEATURES, Scale, distance, market_condition
from llmtrade.memory.embedder import PackagedEmbedder
from llmtrade.memory.history import _VERSION, ConditionHistory
from llmtrade.memory.store import PgMemory
from llmtrade.storage.bootstrap import Storage

ASOF = datetime(2025, 1, 8, 13, tzinfo=UTC)


def _set(symbol: str, **values: float | None) -> IndicatorSet:
    base: dict[str, float | None] = dict.fromkeys(
        [
            "return_1w",
            "return_4w",
            "return_12w",
            "sma_20",
            "sma_50",
            "sma_200",
            "price_vs_sma_20",
            "price_vs_sma_50",
            "price_vs_sma_200",
            "rsi_14",
            "atr_14",
            "realized_vol_20",
            "drawdown_from_52w_high",
            "corr_spy_60",
        ]
    )
    base.update(values)
    return IndicatorSet(symbol=symbol, asof_day=date(2025, 1, 7), close=100.0, bars_used=260, synthetic=False, **base)


def _snapshot(*sets: IndicatorSet) -> MarketSnapshot:
    return MarketSnapshot(
        asof=ASOF, session=date(2025, 1, 7), source="test", synthetic=False, indicators={s.symbol: s for s in sets}
    )


def test_features_come_from_the_right_instruments_with_none_where_missing() -> None:
    snapshot = _snapshot(
        _set("SPY", return_1w=0.01, return_4w=0.02, realized_vol_20=0.15, rsi_14=60.0, price_vs_sma_50=0.03),
        _set("QQQ", return_1w=0.03, return_4w=0.04, realized_vol_20=0.25, corr_spy_60=0.9, price_vs_sma_50=-0.01),
        _set("TLT", return_4w=-0.02, corr_spy_60=-0.3),
        _set("SHY", return_4w=0.001),
    )
    condition = market_condition(snapshot, date(2025, 1, 8))
    values = dict(zip(condition.names, condition.values, strict=True))
    assert condition.names == FEATURES and condition.memory_id == "condition:2025-01-08"
    assert condition.known_at == ASOF and condition.session == date(2025, 1, 7)
    assert values["spy_return_1w"] == 0.01 and values["spy_rsi_14"] == 60.0
    assert values["universe_return_1w"] == pytest.approx(0.02)  # SPY and QQQ; TLT and SHY have none
    assert values["universe_corr_spy"] == pytest.approx(0.3)  # QQQ 0.9 and TLT -0.3; SPY itself left out
    assert values["breadth_above_sma50"] == 0.5
    assert values["rates_long_4w"] == -0.02 and values["rates_short_4w"] == 0.001
    assert values["curve_4w"] == pytest.approx(-0.021)
    assert values["rates_mid_4w"] is None and values["dollar_4w"] is None  # no IEF, no UUP
    assert values["spy_return_12w"] is None and values["spy_drawdown"] is None


def test_an_empty_universe_gives_every_feature_none() -> None:
    condition = market_condition(_snapshot(), date(2025, 1, 8))
    assert condition.values == (None,) * len(FEATURES)


def _conditions(n: int, seed: int = 3) -> list[MarketCondition]:
    rng = random.Random(seed)
    start = date(2024, 1, 3)
    return [
        MarketCondition(
            memory_id=f"condition:{start + timedelta(weeks=i)}",
            week_id=start + timedelta(weeks=i),
            known_at=datetime.combine(start + timedelta(weeks=i), datetime.min.time(), UTC),
            session=start + timedelta(weeks=i, days=-1),
            names=FEATURES,
            values=tuple(None if rng.random() < 0.15 else rng.gauss(0, 1 + j) for j in range(len(FEATURES))),
        )
        for i in range(n)
    ]


def _history(storage: Storage, conditions: list[MarketCondition]) -> ConditionHistory:
    """The conditions remembered in the real tables, and a ConditionHistory read from them."""
    memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    memory.remember([ConditionRemembered(condition=c) for c in conditions], week_id=conditions[0].week_id, run_id=None)
    version = storage.conn.execute(_VERSION).fetchone()
    history = ConditionHistory()
    history.refresh(storage.conn, (int(version[0]), int(version[1])))
    return history


def test_the_held_history_computes_the_reference_z_score_distance(storage: Storage) -> None:
    conditions = _conditions(30)
    target = conditions[-1]
    as_of = target.known_at + timedelta(hours=1)
    scale = Scale([(c.names, c.values) for c in conditions])
    expected = {
        c.memory_id: distance(scale.z(target.names, target.values), scale.z(c.names, c.values)) for c in conditions
    }
    got = {mid: d for d, mid, _ in _history(storage, conditions).distances(target, as_of)}
    assert got.keys() == {k for k, v in expected.items() if math.isfinite(v)}
    for mid, d in got.items():
        assert d == pytest.approx(expected[mid], rel=1e-9)


def test_a_later_week_does_not_change_how_earlier_weeks_compare(storage: Storage) -> None:
    conditions = _conditions(20)
    as_of = conditions[9].known_at + timedelta(hours=1)  # weeks 0..9 are known
    history = _history(storage, conditions[:10])
    before = history.distances(conditions[9], as_of)
    extreme = conditions[15].model_copy(update={"values": tuple(1e6 for _ in FEATURES)})
    later = _history(storage, [*conditions[10:15], extreme, *conditions[16:]])
    assert later.distances(conditions[9], as_of) == before
    assert len(before) == 10


def _held(history: ConditionHistory) -> list[object]:
    """Everything a ConditionHistory holds and computes from, arrays as bytes (equal to the bit)."""
    arrays = [history._week_days, history._id_rank, history._known, history._values, history._gappy]
    return [
        history._rows,
        history._ids,
        history._weeks,
        history._names,
        history._columns,
        [(a.dtype.str, a.shape, a.tobytes()) for a in arrays],
    ]


def _version(storage: Storage) -> tuple[int, int]:
    row = storage.conn.execute(_VERSION).fetchone()
    return int(row[0]), int(row[1])


def test_a_history_brought_up_week_by_week_holds_what_a_whole_read_holds(storage: Storage) -> None:
    conditions = _conditions(12)
    # Weeks missing features, and a feature no earlier week had: the held columns and gaps must follow.
    conditions[4] = conditions[4].model_copy(update={"values": (None, *conditions[4].values[1:])})
    conditions[7] = conditions[7].model_copy(
        update={"names": (*conditions[7].names, "extra"), "values": (*conditions[7].values, 0.5)}
    )
    memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    carried = ConditionHistory()
    reads: list[str] = []
    execute = storage.conn.execute

    def counted(query: str, *args: object, **kw: object) -> object:
        reads.append(query)
        return execute(query, *args, **kw)  # type: ignore[arg-type]

    for condition in conditions:
        memory.remember([ConditionRemembered(condition=condition)], week_id=condition.week_id, run_id=None)
        version = _version(storage)
        storage.conn.execute = counted  # type: ignore[method-assign]
        try:
            carried.refresh(storage.conn, version)
        finally:
            del storage.conn.execute
        whole = ConditionHistory()
        whole.refresh(storage.conn, _version(storage))
        assert _held(carried) == _held(whole)
        target = condition.model_copy(update={"known_at": condition.known_at + timedelta(days=1)})
        assert carried.distances(target, target.known_at) == whole.distances(target, target.known_at)
    assert len(reads) == len(conditions)
    assert sum("WHERE event_id" not in q for q in reads) == 1  # the first read only: later weeks read their own row


def test_a_row_stored_under_the_highest_event_id_read_makes_the_history_read_whole(storage: Storage) -> None:
    conditions = _conditions(6)
    memory = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    first = [ConditionRemembered(condition=c) for c in conditions[:4]]
    memory.remember(first, week_id=conditions[0].week_id, run_id=None)
    history = ConditionHistory()
    history.refresh(storage.conn, _version(storage))
    late = conditions[5]
    storage.conn.execute(
        "INSERT INTO memory_conditions (memory_id, week_id, known_at, session, names, vals, event_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, 1)",
        (late.memory_id, late.week_id, late.known_at, late.session, list(late.names), list(late.values)),
    )
    memory.remember([ConditionRemembered(condition=conditions[4])], week_id=conditions[4].week_id, run_id=None)
    history.refresh(storage.conn, _version(storage))
    whole = ConditionHistory()
    whole.refresh(storage.conn, _version(storage))
    assert _held(history) == _held(whole)
    assert late.memory_id in history._ids


def test_the_nearest_weeks_are_the_first_of_the_distances_sorted_by_distance_then_id(storage: Storage) -> None:
    # Issue 13: a recall sorted every visible week in Python; `nearest` sorts in numpy and builds only the few taken.
    # Ties (equal values: equal distances) are ordered by id as the sort of `distances` orders them.
    conditions = _conditions(40, seed=11)
    twins = [c.model_copy(update={"values": conditions[5].values}) for c in conditions[20:26]]
    conditions = [*conditions[:20], *twins, *conditions[26:]]
    history = _history(storage, conditions)
    for target in (conditions[5], conditions[-1], conditions[22]):
        as_of = conditions[-1].known_at + timedelta(hours=1)
        expected = sorted(history.distances(target, as_of), key=lambda t: (t[0], t[1]))
        assert len({d for d, _, _ in expected}) < len(expected)  # ties there are
        for count in (0, 1, 3, 7, len(expected), len(expected) + 5):
            assert history.nearest(target, as_of, count) == expected[:count]
    early = conditions[9].known_at + timedelta(hours=1)  # point-in-time: only the weeks known by then
    assert [mid for _, mid, _ in history.nearest(conditions[30], early, 100)] == [
        mid for _, mid, _ in sorted(history.distances(conditions[30], early), key=lambda t: (t[0], t[1]))
    ]
    assert len(history.nearest(conditions[30], early, 100)) == 10
