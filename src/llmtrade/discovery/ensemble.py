"""The ensemble: the metric, fuzzy and LLM pickers' scores merged by weight into one ranking, and the
watchlist taken from it with the manual includes and excludes. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from llmtrade.config.sections import EnsembleWeights
from llmtrade.domain.discovery import Disagreement, Suggestion, WatchlistEntry, suggestion


def combine(
    metric: Sequence[Suggestion],
    fuzzy: Sequence[Suggestion],
    llm: Sequence[Suggestion],
    weights: EnsembleWeights,
) -> list[Suggestion]:
    """One suggestion per symbol, ranked by weights.metric * metric + weights.fuzzy * fuzzy + weights.llm * llm.

    A fuzzy score below its minimum (passed False) counts 0: the fuzzy picker does not suggest it.
    A symbol one picker did not score counts 0 for that picker. Ties are broken by symbol."""
    m = {s.symbol: s.score for s in metric}
    f = {s.symbol: (s.score if s.passed is not False else 0.0) for s in fuzzy}
    lm = {s.symbol: s.score for s in llm}
    symbols = sorted(set(m) | set(f) | set(lm))
    scored = {
        s: weights.metric * m.get(s, 0.0) + weights.fuzzy * f.get(s, 0.0) + weights.llm * lm.get(s, 0.0)
        for s in symbols
    }
    order = sorted(symbols, key=lambda s: (-scored[s], s))
    return [
        suggestion(
            s,
            i,
            round(scored[s], 6),
            f"metric {m.get(s, 0.0):.2f}, fuzzy {f.get(s, 0.0):.2f}, llm {lm.get(s, 0.0):.2f}",
        )
        for i, s in enumerate(order, start=1)
    ]


def disagreements(metric: Sequence[Suggestion], llm: Sequence[Suggestion]) -> list[Disagreement]:
    """The LLM picker's picks (score > 0) that the metric picker rejects, in the LLM's order."""
    rejected = {s.symbol: s.reason for s in metric if s.passed is False}
    return [
        Disagreement(symbol=s.symbol, llm_rank=s.rank, metric_reason=rejected[s.symbol])
        for s in sorted(llm, key=lambda s: s.rank)
        if s.score > 0 and s.symbol in rejected
    ]


def watchlist(
    ensemble: Sequence[Suggestion],
    classes: Mapping[str, str],
    *,
    size: int,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> list[WatchlistEntry]:
    """At most `size` entries: the manual includes first (in the order added), then the ensemble's best
    with a score above 0, never an excluded symbol. `classes` gives each symbol's asset class."""
    scores = {s.symbol: s.score for s in ensemble}
    chosen: list[tuple[str, bool]] = [(s, True) for s in dict.fromkeys(include) if s not in exclude]
    taken = {s for s, _ in chosen}
    for s in sorted(ensemble, key=lambda s: s.rank):
        if s.score > 0 and s.symbol not in taken and s.symbol not in exclude:
            chosen.append((s.symbol, False))
            taken.add(s.symbol)
    return [
        WatchlistEntry(symbol=s, asset_class=classes[s], rank=i, score=scores.get(s, 0.0), manual=manual)
        for i, (s, manual) in enumerate(chosen[:size], start=1)
    ]
