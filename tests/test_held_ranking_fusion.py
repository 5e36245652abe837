"""The text ranking's near-ties looked up only where they can change the fused answer (memory/held_ranking.py
`undecided`): the fused best `limit` (ids and sums) is the one the server's order of every near-tie gives."""

from __future__ import annotations

import random

import numpy as np
import pytest

from llmtrade.memory.held_ranking import fused, text_ranking
from tests.test_held_ranking_partial import ERROR, _case


def _numeric(rng: random.Random, ids: list[str], text_near: list[str], depth: int) -> list[str]:
    """A numeric ranking of `depth` ids: some of the text ranking's nearest rows, some others."""
    pool = list(dict.fromkeys([*rng.sample(text_near, min(len(text_near), rng.randrange(0, depth + 1))), *ids]))
    chosen = pool[: depth + rng.randrange(0, 10)]
    rng.shuffle(chosen)
    return chosen[:depth]


@pytest.mark.parametrize("seed", range(60))
def test_the_fused_answer_is_the_one_the_server_order_gives(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([8, 30, 120, 400])
    ids, groups, distances = _case(rng, n)
    # The server's distances: within ERROR of these, in an order that often differs from the ids'.
    server = {r: float(distances[r]) + rng.uniform(-ERROR, ERROR) for r in range(n)}
    skipped = resolved = 0
    for depth in (5, 20):
        whole = [ids[r] for r in np.argsort(distances, kind="stable")[: depth + 10]]
        for limit in (0, 1, 3, 5, 20):
            numeric = _numeric(rng, ids, whole, depth)
            asked: list[int] = []

            def exact(rows: list[int], asked: list[int] = asked) -> list[float]:
                asked.extend(rows)
                return [server[r] for r in rows]

            everything = text_ranking(ids, groups, distances, depth, ERROR, exact)
            all_asked = sorted(asked)
            asked.clear()
            some = text_ranking(ids, groups, distances, depth, ERROR, exact, (numeric, 60, limit))
            assert fused([some, numeric], 60, limit) == fused([everything, numeric], 60, limit)
            assert set(asked) <= set(all_asked)
            skipped += len(asked) < len(all_asked)
            resolved += bool(asked)
    _SEEN.append((skipped, resolved))


_SEEN: list[tuple[int, int]] = []


def test_both_ways_happen() -> None:
    """The cases above both skip near-ties and look some up (else they would prove little)."""
    if not _SEEN:
        for seed in range(60):
            test_the_fused_answer_is_the_one_the_server_order_gives(seed)
    assert sum(s for s, _ in _SEEN) > 20 and sum(r for _, r in _SEEN) > 10


def test_a_near_tie_at_the_top_is_looked_up_and_one_out_of_reach_is_not() -> None:
    # Rows 0 and 1 tie at the top, rows 8 and 9 tie at ranks 9-10 with no numeric rank: out of reach of the best 3,
    # whose rows are in both rankings.
    distances = np.array([0.1, 0.1 + ERROR / 2, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.8 + ERROR / 2])
    ids = [f"s:{i}" for i in range(10)]
    groups = np.arange(10)
    asked: list[int] = []

    def exact(rows: list[int]) -> list[float]:
        asked.extend(rows)
        return [float(distances[r]) for r in rows][::-1]  # the server orders each pair the other way round

    ranked = text_ranking(ids, groups, distances, 10, ERROR, exact, (["s:2", "s:3", "s:0", "s:1"], 60, 3))
    assert sorted(asked) == [0, 1]
    assert ranked[:2] == ["s:1", "s:0"] and ranked[8:] == ["s:8", "s:9"]
