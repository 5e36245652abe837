"""The pickers that need no model: metric (pass/fail), fuzzy (weighted 0-1 memberships), and the two
controls every picker is measured against, random (seeded per ISO week) and plain momentum.

Each scores every candidate and ranks them all (rank 1 best; ties broken by symbol), so its skill
can be measured over the whole set. Pure functions of the features and the settings.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date

from llmtrade.config.sections import DiscoveryConfig, FuzzyWeights
from llmtrade.domain.discovery import CandidateFeatures, Suggestion, suggestion


def _ranked(
    rows: Sequence[tuple[str, float, bool | None, str]], key: Callable[[tuple[str, float, bool | None, str]], tuple]
) -> list[Suggestion]:
    ordered = sorted(rows, key=key)
    return [
        suggestion(s, i, round(score, 6), reason, passed)
        for i, (s, score, passed, reason) in enumerate(ordered, start=1)
    ]


def metric(candidates: Sequence[CandidateFeatures], settings: DiscoveryConfig) -> list[Suggestion]:
    """Pass (score 1) when average volume, spread estimate and price are all within the settings, else
    fail (score 0) with the first rule broken. Passing names first, then by average volume."""
    rows = []
    for c in candidates:
        reasons = []
        if c.avg_volume < settings.min_avg_volume:
            reasons.append(f"avg volume {c.avg_volume:,.0f} < {settings.min_avg_volume:,.0f}")
        if c.spread > settings.max_spread:
            reasons.append(f"spread {c.spread:.2%} > {settings.max_spread:.2%}")
        if not settings.min_price <= c.price <= settings.max_price:
            reasons.append(f"price {c.price:.2f} outside {settings.min_price:g}..{settings.max_price:g}")
        passed = not reasons
        rows.append((c.symbol, 1.0 if passed else 0.0, passed, "; ".join(reasons) or "passes every filter"))
    volume = {c.symbol: c.avg_volume for c in candidates}
    return _ranked(rows, key=lambda r: (-r[1], -volume[r[0]], r[0]))


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 at or below lo, 1 at or above hi, linear between."""
    return min(max((x - lo) / (hi - lo), 0.0), 1.0)


def liquidity_membership(avg_volume: float) -> float:
    """0 at 100k shares a session or fewer, 1 at 10M or more, linear in log10 volume between."""
    return _ramp(math.log10(max(avg_volume, 1.0)), 5.0, 7.0)


def volatility_membership(volatility: float) -> float:
    """Moderate preferred: a trapezoid on annualised vol, 0 at 2% and below, 1 from 10% to 30%, 0 at 60%+."""
    if volatility <= 0.10:
        return _ramp(volatility, 0.02, 0.10)
    return 1.0 - _ramp(volatility, 0.30, 0.60)


def momentum_membership(momentum: float) -> float:
    """0.5 flat, 1 at +20% or more over the momentum window, 0 at -20% or less, linear between."""
    return min(max(0.5 + momentum / 0.40, 0.0), 1.0)


def balance_memberships(candidates: Sequence[CandidateFeatures]) -> dict[str, float]:
    """1 minus the candidate's asset class's share of the candidates: scarce classes score higher."""
    counts = Counter(c.asset_class for c in candidates)
    return {c.symbol: 1.0 - counts[c.asset_class] / len(candidates) for c in candidates}


def fuzzy_score(weights: FuzzyWeights, liquidity: float, volatility: float, momentum: float, balance: float) -> float:
    """The fuzzy score: the memberships (0-1) weighed."""
    return (
        weights.liquidity * liquidity
        + weights.volatility * volatility
        + weights.momentum * momentum
        + weights.balance * balance
    )


def fuzzy(candidates: Sequence[CandidateFeatures], settings: DiscoveryConfig) -> list[Suggestion]:
    """The weighted memberships (0-1); passed when the score reaches fuzzy_min_score."""
    balance = balance_memberships(candidates)
    rows = []
    weights = settings.fuzzy_weights
    for c in candidates:
        liquidity, volatility = liquidity_membership(c.avg_volume), volatility_membership(c.volatility)
        momentum, balanced = momentum_membership(c.momentum), balance[c.symbol]
        score = fuzzy_score(weights, liquidity, volatility, momentum, balanced)
        reason = (
            f"liquidity {liquidity:.2f}, volatility {volatility:.2f}, momentum {momentum:.2f}, balance {balanced:.2f}"
        )
        rows.append((c.symbol, score, score >= settings.fuzzy_min_score, reason))
    return _ranked(rows, key=lambda r: (-r[1], r[0]))


def _by_order(symbols: Sequence[str], reason: Callable[[str], str]) -> list[Suggestion]:
    """Rank in the given order; score falls linearly from 1 (first) to 0 (last)."""
    n = len(symbols)
    return [
        suggestion(s, i + 1, round(1.0 - i / (n - 1), 6) if n > 1 else 1.0, reason(s)) for i, s in enumerate(symbols)
    ]


def momentum(candidates: Sequence[CandidateFeatures]) -> list[Suggestion]:
    """Control: plain momentum, strongest first."""
    by = {c.symbol: c.momentum for c in candidates}
    order = sorted(by, key=lambda s: (-by[s], s))
    return _by_order(order, lambda s: f"momentum {by[s]:+.1%}")


def week_seed(session: date) -> str:
    """The random control's seed: the ISO week of the as-of session, so reruns in a week agree."""
    year, week, _ = session.isocalendar()
    return f"discovery-random:{year}-W{week:02d}"


def random_control(candidates: Sequence[CandidateFeatures], session: date) -> list[Suggestion]:
    """Control: a random order, fixed for the ISO week of `session`."""
    order = sorted(c.symbol for c in candidates)
    random.Random(week_seed(session)).shuffle(order)
    return _by_order(order, lambda s: "random control")
