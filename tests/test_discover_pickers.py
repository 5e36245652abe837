"""Each picker's scores, the ensemble's weights and ranking, and the watchlist, against hand-computed values."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from llmtrade.config.sections import DiscoveryConfig, EnsembleWeights, FuzzyWeights
from llmtrade.discovery import ensemble, pickers
from llmtrade.discovery.features import MOMENTUM_SESSIONS, PairHistory, corwin_schultz, features
from llmtrade.domain.discovery import CandidateFeatures, Suggestion, suggestion
from llmtrade.domain.market import Bar

SETTINGS = DiscoveryConfig()


def _c(symbol: str, **kw: object) -> CandidateFeatures:
    base: dict[str, object] = dict(
        asset_class="equity", sessions=100, price=50.0, avg_volume=2e6, spread=0.002, volatility=0.2, momentum=0.0
    )
    return CandidateFeatures(symbol=symbol, **{**base, **kw})  # type: ignore[arg-type]


def _bar(day: date, high: float, low: float, close: float, volume: float = 1e6) -> Bar:
    return Bar(symbol="X", day=day, open=close, high=high, low=low, close=close, volume=volume, source="test")


def test_corwin_schultz_on_two_identical_sessions_is_twice_the_range_over_two_plus_range() -> None:
    # Identical sessions with high/low = r give alpha = ln r exactly, so S = 2(r - 1)/(1 + r).
    day = date(2026, 1, 5)
    bar = _bar(day, 101.0, 100.0, 100.5)
    assert corwin_schultz(bar, bar.model_copy(update={"day": day + timedelta(days=1)})) == pytest.approx(0.02 / 2.01)


def test_corwin_schultz_counts_a_negative_estimate_as_zero() -> None:
    # A big move between two tight sessions: the two-day range is all volatility, the estimate < 0.
    first = _bar(date(2026, 1, 5), 100.1, 100.0, 100.05)
    second = _bar(date(2026, 1, 6), 110.1, 110.0, 110.05)
    assert corwin_schultz(first, second) == 0.0


def test_features_need_enough_history_and_read_the_last_sessions() -> None:
    start = date(2025, 1, 1)
    bars = [
        _bar(start + timedelta(days=i), 101.0 + i, 99.0 + i, 100.0 + i, volume=1e6 + i)
        for i in range(MOMENTUM_SESSIONS)
    ]
    assert features("X", bars, asset_class="equity") is None  # one short of MIN_SESSIONS
    bars.append(_bar(start + timedelta(days=MOMENTUM_SESSIONS), 161.0, 159.0, 160.0, volume=3e6))
    row = features("X", bars, asset_class="equity")
    assert row is not None
    assert row.price == 160.0
    assert row.momentum == pytest.approx(160.0 / 100.0 - 1)  # 60 sessions back: the first close
    assert row.avg_volume == pytest.approx((sum(1e6 + i for i in range(41, 60)) + 3e6) / 20)


def test_metric_passes_only_what_clears_every_filter_and_says_why_not() -> None:
    rows = pickers.metric(
        [
            _c("OK", avg_volume=1_500_000),
            _c("THIN", avg_volume=999_999),
            _c("WIDE", spread=0.0101),
            _c("PENNY", price=4.99),
            _c("BIG", avg_volume=9e6),
        ],
        SETTINGS,
    )
    by = {r.symbol: r for r in rows}
    assert [r.symbol for r in rows[:2]] == ["BIG", "OK"]  # passing first, by volume
    assert (by["OK"].passed, by["OK"].score) == (True, 1.0)
    assert (by["THIN"].passed, by["THIN"].score) == (False, 0.0)
    assert "avg volume 999,999 < 1,000,000" in by["THIN"].reason
    assert "spread 1.01% > 1.00%" in by["WIDE"].reason
    assert "price 4.99 outside 5..2000" in by["PENNY"].reason
    assert sorted(r.rank for r in rows) == [1, 2, 3, 4, 5]


def test_fuzzy_score_is_the_weighted_memberships() -> None:
    # A: liquidity log10(1e6)=6 -> 0.5; vol 0.45 -> 1 - (0.45 - 0.30)/0.30 = 0.5; momentum +10% -> 0.75;
    # balance: 3 of 4 candidates equity -> 0.25. 0.30*0.5 + 0.25*0.5 + 0.35*0.75 + 0.10*0.25 = 0.5625.
    # G (gold): liquidity 1e7 -> 1; vol 0.06 -> (0.06-0.02)/0.08 = 0.5; momentum -30% -> 0; balance 0.75:
    # 0.30 + 0.125 + 0 + 0.075 = 0.5.  L: liquidity 1e5 -> 0, vol 0.2 -> 1, momentum 0 -> 0.5, balance 0.25:
    # 0 + 0.25 + 0.175 + 0.025 = 0.45.  Z: 0 + 0 (vol 0.7) + 0 (momentum -50%) + 0.025 = 0.025 < 0.3.
    rows = pickers.fuzzy(
        [
            _c("A", avg_volume=1e6, volatility=0.45, momentum=0.10),
            _c("G", asset_class="gold", avg_volume=1e7, volatility=0.06, momentum=-0.30),
            _c("L", avg_volume=1e5, volatility=0.2, momentum=0.0),
            _c("Z", avg_volume=1e5, volatility=0.7, momentum=-0.5),
        ],
        SETTINGS,
    )
    assert [(r.symbol, r.score, r.passed) for r in rows] == [
        ("A", pytest.approx(0.5625), True),
        ("G", pytest.approx(0.5), True),
        ("L", pytest.approx(0.45), True),
        ("Z", pytest.approx(0.025), False),
    ]


def test_fuzzy_weights_are_configurable_and_must_sum_to_one() -> None:
    only_momentum = DiscoveryConfig(fuzzy_weights=FuzzyWeights(liquidity=0, volatility=0, momentum=1, balance=0))
    (row,) = pickers.fuzzy([_c("A", momentum=0.05)], only_momentum)
    assert row.score == pytest.approx(0.625)
    with pytest.raises(ValueError, match="add up to 1"):
        FuzzyWeights(liquidity=0.5, volatility=0.5, momentum=0.5, balance=0)


def test_the_momentum_control_ranks_by_momentum_with_linear_scores() -> None:
    rows = pickers.momentum([_c("LOW", momentum=-0.1), _c("HIGH", momentum=0.2), _c("MID", momentum=0.05)])
    assert [(r.symbol, r.rank, r.score) for r in rows] == [("HIGH", 1, 1.0), ("MID", 2, 0.5), ("LOW", 3, 0.0)]


def test_the_random_control_is_fixed_within_an_iso_week_and_changes_between_weeks() -> None:
    candidates = [_c(f"S{i:03d}") for i in range(50)]
    monday, friday, next_week = date(2026, 1, 5), date(2026, 1, 9), date(2026, 1, 12)
    order = [r.symbol for r in pickers.random_control(candidates, monday)]
    assert [r.symbol for r in pickers.random_control(list(reversed(candidates)), friday)] == order
    assert [r.symbol for r in pickers.random_control(candidates, next_week)] != order
    assert sorted(order) == sorted(c.symbol for c in candidates)


def _s(symbol: str, rank: int, score: float, passed: bool | None = None) -> Suggestion:
    return Suggestion(symbol=symbol, rank=rank, score=score, passed=passed)


def test_the_ensemble_weighs_metric_fuzzy_and_llm_and_ranks_once_per_symbol() -> None:
    metric = [_s("A", 1, 1.0, True), _s("B", 2, 1.0, True), _s("C", 3, 0.0, False)]
    fuzzy = [_s("C", 1, 0.9, True), _s("B", 2, 0.8, True), _s("A", 3, 0.5, True)]
    llm = [_s("C", 1, 1.0), _s("A", 2, 0.5), _s("B", 3, 0.0)]
    rows = ensemble.combine(metric, fuzzy, llm, EnsembleWeights())
    # A: .3*1 + .4*.5 + .3*.5 = .65; B: .3 + .4*.8 = .62; C: .4*.9 + .3*1 = .66
    assert [(r.symbol, r.rank, r.score) for r in rows] == [
        ("C", 1, pytest.approx(0.66)),
        ("A", 2, pytest.approx(0.65)),
        ("B", 3, pytest.approx(0.62)),
    ]
    other = ensemble.combine(metric, fuzzy, llm, EnsembleWeights(metric=1.0, fuzzy=0.0, llm=0.0))
    assert [r.symbol for r in other] == ["A", "B", "C"]  # ties at 1.0 broken by symbol
    (disagreement,) = ensemble.disagreements(metric, llm)
    assert (disagreement.symbol, disagreement.llm_rank) == ("C", 1)


def test_a_fuzzy_score_below_its_minimum_adds_nothing_to_the_ensemble() -> None:
    rows = ensemble.combine([], [_s("A", 1, 0.29, False), _s("B", 2, 0.3, True)], [], EnsembleWeights())
    assert {r.symbol: r.score for r in rows} == {"B": pytest.approx(0.12), "A": 0.0}


def test_the_watchlist_takes_includes_first_skips_excludes_and_zero_scores_and_stops_at_its_size() -> None:
    ranked = [_s(s, i, score) for i, (s, score) in enumerate([("A", 0.9), ("B", 0.8), ("C", 0.7), ("D", 0.0)], 1)]
    classes = {"A": "equity", "B": "rates", "C": "gold", "D": "oil", "M": "credit"}
    rows = ensemble.watchlist(ranked, classes, size=3, include=["M"], exclude=["B"])
    assert [(e.symbol, e.rank, e.manual, e.asset_class) for e in rows] == [
        ("M", 1, True, "credit"),
        ("A", 2, False, "equity"),
        ("C", 3, False, "gold"),
    ]
    assert [e.symbol for e in ensemble.watchlist(ranked, classes, size=20)] == ["A", "B", "C"]


def test_a_pair_history_gives_the_features_of_any_slice_to_the_bit() -> None:
    start = date(2025, 1, 1)
    bars = [
        _bar(start + timedelta(days=i), 105.0 + i % 7, 95.0 - i % 5, 100.0 + (i * 37 % 11) / 3, volume=1e6 + i * 13)
        for i in range(150)
    ]
    history = PairHistory(bars, 10)
    for lo, hi in [(10, 71), (10, 150), (40, 120), (60, 150), (89, 150)]:
        expected = features("X", bars[lo:hi], asset_class="equity", name="n", sector="s")
        got = history.features(lo, hi, "X", asset_class="equity", name="n", sector="s")
        assert got == expected
        assert got is not None and expected is not None
        assert got.model_dump_json() == expected.model_dump_json()
        assert got == CandidateFeatures.model_validate(got.model_dump())  # what validation would have built
    assert history.features(10, 70, "X", asset_class="equity") is None  # one short of MIN_SESSIONS
    with pytest.raises(ValueError):
        history.features(9, 100, "X", asset_class="equity")


def test_a_suggestion_built_unvalidated_is_the_validated_one_and_a_bad_value_still_fails() -> None:
    for passed in (True, False, None):
        fast = suggestion("XLE", 3, 0.25, "why", passed)
        slow = Suggestion(symbol="XLE", rank=3, score=0.25, passed=passed, reason="why")
        assert fast == slow and fast.model_fields_set == slow.model_fields_set
        assert fast.model_dump_json() == slow.model_dump_json() and list(fast.__dict__) == list(slow.__dict__)
    fast, slow = suggestion("XLE", 1, 1.0, "top"), Suggestion(symbol="XLE", rank=1, score=1.0, reason="top")
    assert fast == slow and fast.model_fields_set == slow.model_fields_set == {"symbol", "rank", "score", "reason"}
    assert type(suggestion("XLE", 1, 1, "an int score").score) is float  # validated: coerced as the model does
    for rank, score in ((0, 0.5), (1, 1.000001), (1, -0.1), (1, math.nan)):
        with pytest.raises(ValidationError):
            suggestion("XLE", rank, score, "out of bounds")
