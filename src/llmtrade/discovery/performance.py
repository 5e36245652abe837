"""How each picker's suggestions turned out: `discover performance`, and the ensemble weights re-fitted
from matured outcomes only. Pure: judged sessions and matured forward returns in, records out.

Per picker, over the judged sessions whose horizon has matured (as of the reader's session):
- rank IC: Spearman correlation of the picker's scores with the candidates' excess returns over SPY,
  one per session; its mean, and the mean over its Newey-West (HAC) standard error, over the sessions that have one
  (`ic_sessions`: scores all alike rank nothing);
- hit rate: the share of the picker's top `top` suggestions that beat SPY, SPY itself left out: its excess over
  itself is 0 by construction, so counted it would be a miss no picker could avoid (None when SPY is its only pick);
- top minus median: the mean excess return of its top `top` minus the median excess of all candidates;
- turnover: the mean share of its top `top` replaced from one judged session to the next (all judged
  sessions, matured or not: it needs no outcome);
- coverage: the share of judged sessions whose outcome has matured;
- a candidate without a forward return in a matured session (its prices missing: ForwardReturns `unmeasured`) is
  left out of that session's statistics, never counted as a zero return (`unmeasured_picks` counts them);
- cost per week: what its model calls cost, per ISO week with a run (the LLM picker; 0 for the others);
- ensemble minus picker: the mean of the per-session IC differences with a stationary-bootstrap interval.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from datetime import date

from llmtrade.analytics.metrics import paired_mean_interval
from llmtrade.analytics.records import Interval
from llmtrade.config.models import BENCHMARK
from llmtrade.config.sections import EnsembleWeights
from llmtrade.discovery.statistics import median, newey_west_t, spearman
from llmtrade.domain.discovery import PICKERS, ForwardReturns, SuggestionsMade
from llmtrade.domain.records import Record

MIN_DIFFERENCES = 8  # judged sessions below which an ensemble-minus-picker interval is not given


class PickerPerformance(Record):
    picker: str
    sessions: int  # judged sessions with a matured outcome
    mean_ic: float | None
    # Of `sessions`, those with a rank IC, which `mean_ic`, `ic_t_hac` and `ensemble_minus` are over: a session whose
    # scores are all alike (the metric picker's 1.0 for every candidate passing its filters) ranks nothing and has none.
    ic_sessions: int = 0
    ic_t_hac: float | None
    hit_rate: float | None
    top_minus_median: float | None
    turnover: float | None
    coverage: float | None
    cost_per_week_usd: float
    ensemble_minus: Interval | None  # the ensemble's mean IC minus this picker's; None for the ensemble


def _top(made: SuggestionsMade, top: int) -> list[str]:
    return [s.symbol for s in sorted(made.suggestions, key=lambda s: s.rank)[:top]]


def session_ic(made: SuggestionsMade, outcome: ForwardReturns) -> float | None:
    pairs = [(s.score, outcome.excess(s.symbol)) for s in made.suggestions]
    kept = [(score, excess) for score, excess in pairs if excess is not None]
    return spearman([p[0] for p in kept], [p[1] for p in kept])  # type: ignore[misc]


def evaluate(
    judged: Mapping[date, Sequence[SuggestionsMade]],
    outcomes: Sequence[ForwardReturns],
    *,
    horizon: int,
    top: int,
    lags: int | None = None,
) -> list[PickerPerformance]:
    """Every picker's performance at `horizon`; `outcomes` must already be the matured ones (point-in-time)."""
    by_session = {o.session: o for o in outcomes if o.horizon == horizon}
    series: dict[str, dict[date, SuggestionsMade]] = {}
    for day, runs in judged.items():
        for made in runs:
            series.setdefault(made.picker, {})[day] = made
    ics: dict[str, dict[date, float]] = {}
    rows = []
    for picker in [p for p in PICKERS if p in series]:
        runs = series[picker]
        matured = {d: m for d, m in runs.items() if d in by_session}
        ic = {d: v for d, m in matured.items() if (v := session_ic(m, by_session[d])) is not None}
        ics[picker] = ic
        hits: list[bool] = []
        spreads: list[float] = []
        for d, m in matured.items():
            outcome = by_session[d]
            excess = {s: e for s in outcome.returns if (e := outcome.excess(s)) is not None}
            chosen = [excess[s] for s in _top(m, top) if s in excess]
            # SPY cannot beat SPY: a pick of it is neither hit nor miss (its 0 still counts in the spread below).
            hits += [excess[s] > 0 for s in _top(m, top) if s in excess and s != BENCHMARK]
            judged_excess = [excess[s.symbol] for s in m.suggestions if s.symbol in excess]
            if chosen and judged_excess:
                spreads.append(math.fsum(chosen) / len(chosen) - median(judged_excess))
        days = sorted(runs)
        turns = [
            1 - len(set(_top(runs[a], top)) & set(_top(runs[b], top))) / max(len(_top(runs[b], top)), 1)
            for a, b in itertools.pairwise(days)
        ]
        weeks = {d.isocalendar()[:2] for d in runs}
        values = [ic[d] for d in sorted(ic)]
        rows.append(
            PickerPerformance(
                picker=picker,
                sessions=len(matured),
                mean_ic=math.fsum(values) / len(values) if values else None,
                ic_sessions=len(values),
                ic_t_hac=newey_west_t(values, lags),
                hit_rate=sum(hits) / len(hits) if hits else None,
                top_minus_median=math.fsum(spreads) / len(spreads) if spreads else None,
                turnover=math.fsum(turns) / len(turns) if turns else None,
                coverage=len(matured) / len(runs) if runs else None,
                cost_per_week_usd=math.fsum(m.cost_usd for m in runs.values()) / len(weeks) if weeks else 0.0,
                ensemble_minus=None,
            )
        )
    ensemble = ics.get("ensemble", {})
    out = []
    for row in rows:
        if row.picker != "ensemble" and ensemble:
            common = sorted(set(ensemble) & set(ics[row.picker]))
            interval = paired_mean_interval(
                [ensemble[d] for d in common], [ics[row.picker][d] for d in common], minimum=MIN_DIFFERENCES
            )
            row = row.model_copy(update={"ensemble_minus": interval if common else None})
        out.append(row)
    return out


def unmeasured_picks(
    judged: Mapping[date, Sequence[SuggestionsMade]], outcomes: Sequence[ForwardReturns], *, horizon: int
) -> int:
    """How many candidates judged in the sessions matured at `horizon` have no forward return (their prices missing
    for good, or no close on the session or at maturity: ForwardReturns `unmeasured`): each session's once, whatever
    the pickers. `evaluate` leaves them out of every statistic; none counts as a zero return."""
    by_session = {o.session: o for o in outcomes if o.horizon == horizon}
    return sum(
        symbol not in by_session[day].returns
        for day, runs in judged.items()
        if day in by_session
        for symbol in {s.symbol for made in runs for s in made.suggestions}
    )


def refit_weights(
    judged: Mapping[date, Sequence[SuggestionsMade]],
    outcomes: Sequence[ForwardReturns],
    *,
    horizon: int,
    default: EnsembleWeights,
) -> EnsembleWeights:
    """Ensemble weights proportional to the metric, fuzzy and LLM pickers' mean rank IC (negative counts 0),
    from `outcomes` alone, which must be the matured ones: a return not yet known cannot move a weight.
    `default` when no picker has a positive mean IC yet."""
    rows = {r.picker: r for r in evaluate(judged, outcomes, horizon=horizon, top=1)}
    skill = {p: max(rows[p].mean_ic or 0.0, 0.0) if p in rows else 0.0 for p in ("metric", "fuzzy", "llm")}
    total = math.fsum(skill.values())
    if total <= 0:
        return default
    metric, fuzzy = skill["metric"] / total, skill["fuzzy"] / total
    return EnsembleWeights(metric=metric, fuzzy=fuzzy, llm=1.0 - metric - fuzzy)
