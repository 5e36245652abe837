"""The text ranking's partial sort (memory/held_ranking.py `nearest_first`): the rows it sorts are the whole stable
sort's first rows, end where a block ends, and the ranking built on them is the one a whole sort gives, near-ties and
the server's distances asked for included."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np
import pytest

from llmtrade.memory import held_ranking
from llmtrade.memory.held_ranking import nearest_first, text_ranking

ERROR = 1e-5


def _whole_sort_ranking(
    ids: Sequence[str],
    groups: np.ndarray,
    distances: np.ndarray,
    depth: int,
    error: float,
    exact: Callable[[list[int]], Sequence[float]],
) -> list[str]:
    """text_ranking as it was before the partial sort: every row sorted."""
    n = len(ids)
    order = np.argsort(distances, kind="stable")
    ends = np.flatnonzero(np.diff(distances[order]) > 2 * error)
    reach = int(np.searchsorted(ends, min(depth, n) - 1))
    bounds = [0, *(ends[:reach] + 1).tolist(), int(ends[reach]) + 1 if reach < len(ends) else n]
    blocks = [order[a:b].tolist() for a, b in pairwise(bounds)]
    tied = [row for block in blocks if len(block) > 1 and len({int(groups[r]) for r in block}) > 1 for row in block]
    server = dict(zip(tied, exact(tied), strict=True)) if tied else {}
    ranked: list[int] = []
    for block in blocks:
        if len(block) > 1:
            block.sort(key=(lambda r: (server[r], ids[r])) if block[0] in server else (lambda r: ids[r]))
        ranked.extend(block)
    return [ids[r] for r in ranked[:depth]]


def _case(rng: random.Random, n: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """`n` rows: a few shared vectors (equal distances), clusters of near-ties, and chains of small gaps."""
    distances = []
    groups = []
    for row in range(n):
        kind = rng.random()
        if kind < 0.2 and distances:
            twin = rng.randrange(len(distances))  # the same vector as an earlier row
            distances.append(distances[twin])
            groups.append(groups[twin])
            continue
        # Half near-ties around steps of 1e-3, half spread out.
        near_tie = round(rng.uniform(0.0, 1.0), 3) + rng.uniform(0, 1.5 * ERROR)
        distances.append(near_tie if kind < 0.5 else rng.uniform(0.0, 2.0))
        groups.append(row)
    order = list(range(n))
    rng.shuffle(order)
    ids = [f"setup:{i:05d}" for i in order]
    return ids, np.array(groups), np.array(distances)


@pytest.mark.parametrize("seed", range(40))
def test_the_partial_sort_ranks_as_the_whole_sort(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([300, 600, 2000])
    ids, groups, distances = _case(rng, n)
    server = {r: float(distances[r]) + rng.uniform(-ERROR, ERROR) for r in range(n)}
    asked: list[list[int]] = []

    def exact(rows: list[int]) -> list[float]:
        asked.append(sorted(rows))
        return [server[r] for r in rows]

    for depth in (1, 5, 20, 60):
        asked.clear()
        got = text_ranking(ids, groups, distances, depth, ERROR, exact)
        mine = list(asked)
        asked.clear()
        assert got == _whole_sort_ranking(ids, groups, distances, depth, ERROR, exact)
        assert mine == asked  # the same rows asked of the server

        order = nearest_first(distances, min(depth, n), 2 * ERROR)
        whole = np.argsort(distances, kind="stable")
        assert order.tolist() == whole[: len(order)].tolist()
        assert len(order) >= min(depth, n)
        if len(order) < n:
            assert distances[whole[len(order)]] - distances[order[-1]] > 2 * ERROR  # ends where a block ends


def test_a_block_running_past_the_cut_sorts_everything() -> None:
    # A chain of gaps each within 2 * ERROR: one block from the nearest row to the last.
    distances = np.arange(400) * ERROR
    order = nearest_first(distances, 3, 2 * ERROR)
    assert order.tolist() == list(range(400))


def test_the_partial_sort_is_taken_for_many_rows_with_a_clear_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    distances = np.concatenate([np.array([0.3, 0.1, 0.2]), np.linspace(0.5, 1.0, 500)])
    sorted_rows: list[int] = []
    real = np.argsort

    def counting(a: np.ndarray, *args: object, **kw: object) -> np.ndarray:
        sorted_rows.append(len(a))
        return real(a, *args, **kw)

    monkeypatch.setattr(held_ranking.np, "argsort", counting)
    assert nearest_first(distances, 2, 2 * ERROR).tolist() == [1, 2]
    assert sorted_rows == [2]  # the two rows within reach, not 503
