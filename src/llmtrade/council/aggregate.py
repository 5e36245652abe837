"""Aggregate rankings: mean rank per candidate (1 = best), ties broken by name for stability."""

from __future__ import annotations

from collections.abc import Sequence

from llmtrade.domain.council import RankAggregate


def mean_ranks(orders: Sequence[Sequence[str]]) -> list[RankAggregate]:
    """`orders` are rankings, best first; a candidate is averaged over the rankings that include it."""
    positions: dict[str, list[int]] = {}
    for order in orders:
        for position, candidate in enumerate(order, start=1):
            positions.setdefault(candidate, []).append(position)
    rows = [RankAggregate(model=c, mean_rank=sum(p) / len(p), votes=len(p)) for c, p in positions.items()]
    return sorted(rows, key=lambda row: (row.mean_rank, row.model))
