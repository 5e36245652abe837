"""The similar-setups rankings of memory/similar.py's statement, computed in the process (memory/held_setups.py holds
what they rank), with the statement's keys, cuts and ties: pure functions over numpy arrays.

Text ranking. pgvector's cosine distance (vector.c, VectorCosineSimilarity) sums the dot product and both squared norms
in float32, in an order its compiler picks (-fassociative-math, -ffp-contract=fast, -march=native: it differs between
builds), divides in double and returns 1 - the similarity clamped to [-1, 1]. Its bits cannot be reproduced without the
build's order, so here the distance is computed in float64 (products of float32 values are exact in float64) and
bounded instead: for n dimensions, float32 summation in any order, with or without fused multiply-adds, errs by at most
gamma_n = n*u/(1 - n*u) (u = 2^-24) times sum |a_i b_i| (Higham, Accuracy and Stability of Numerical Algorithms, (3.5):
any order of evaluation), and sum |a_i b_i| <= |a||b| (Cauchy-Schwarz), so pgvector's distance lies within
`distance_error(n)` of the one computed here (~3.1e-5 at 256 dimensions). Two setups whose distances here differ by more
than twice that are ordered by the server as here; two with the same vector (bit for bit) get the same distance there
(the same computation on the same values: the shipped build's loop depends only on the dimension count, no alignment
path) and are ordered by id. Rows closer than that (a near-tie: ~1 read in 4 of a synthetic backtest's has one) are
ordered by the distances the server computes for them alone (`exact`: a lookup of those few rows by id, not a search).

Numeric ranking and fusion: integers, dates and the history's float64 week distances, compared as the statement
compares them (ties by id in code-point order: the statement sorts ids COLLATE "C"); RRF sums 1.0 / (60 + rank) in
float64, one or two terms, whose sum does not depend on their order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from llmtrade.domain.memory import MarketCondition
    from llmtrade.memory.history import ConditionHistory

_U32 = 2.0**-24  # float32's unit roundoff
_U64 = 2.0**-53  # float64's


def _gamma(n: int, u: float) -> float:
    return n * u / (1 - n * u)


def distance_error(dims: int) -> float:
    """A bound on |pgvector's cosine distance - `cosine_distances`'| for `dims`-dimension float32 vectors whose
    squared norms lie in [1/4, 4] (unit vectors: `NORMS`): pgvector's float32 sums (gamma_n on the dot product,
    relative gamma_n on each squared norm, so at most gamma_n/(1 - gamma_n) on the square root of their product),
    its double product, square root, division and subtraction (8 u64 more, generously), the same for the float64
    computation here, and an absolute 2^-100 for float32 underflow (at most n * 2^-150 on a sum)."""

    def side(gamma: float) -> float:
        phi = gamma / (1 - gamma) + 8 * _U64
        return gamma * (1 + phi) + phi + 2 * _U64

    return 1.01 * (side(_gamma(dims, _U32)) + side(_gamma(dims, _U64))) + 2.0**-100


NORMS = (0.25, 4.0)  # squared norms `distance_error` is proven for (the memory's vectors are unit length)


def cosine_distances(vectors: np.ndarray, squares: np.ndarray, query: np.ndarray) -> np.ndarray | None:
    """1 - cos(vector, query), clamped as pgvector clamps, in float64, for each row of `vectors` (float64 copies of
    float32 values; `squares`: each row's sum of squares); None when a squared norm lies outside NORMS (the error
    bound is not proven there: the caller asks the server)."""
    query_squares = float(query @ query)
    low, high = NORMS
    if not low <= query_squares <= high or (squares.size and (squares.min() < low or squares.max() > high)):
        return None
    dots = np.empty(len(vectors))
    step = max(1, _CHUNK // max(1, vectors.shape[1]))
    for start in range(0, len(vectors), step):
        np.dot(vectors[start : start + step], query, out=dots[start : start + step])
    similarity = dots / np.sqrt(squares * query_squares)
    return 1.0 - np.clip(similarity, -1.0, 1.0)


# OpenBLAS runs a matrix-vector product of 460,800 elements or more (1,800 setup vectors of 256 dimensions) on several
# threads (interface/gemv.c), which spin: measured on this 2-core machine, 1,810 x 256 took 2.9 ms of the process's
# CPU where 1,790 x 256 took 0.11 ms. `cosine_distances` takes the rows in chunks below that: one thread, a row's
# product the same dot product either way (the error bound holds for any order of summation).
_CHUNK = 1 << 18


def text_ranking(
    ids: Sequence[str],
    groups: np.ndarray,
    distances: np.ndarray,
    depth: int,
    error: float,
    exact: Callable[[list[int]], Sequence[float]],
    fusion: tuple[Sequence[str], int, int] | None = None,
) -> list[str]:
    """The ids of the `depth` nearest by (distance, id in code-point order), as the server ranks them with its own
    distances (each within `error` of `distances`; `groups[i]` equal for equal vectors). Sorted here, the rows fall
    into blocks: a block ends where the next row is farther by more than 2 * `error` (every later row is then farther
    on the server too). A block of one vector is ordered by id; a block of several (a near-tie) by the server's own
    distances of its rows, `exact(rows)` (one call for every such block the first `depth` reach).

    `fusion` (the other ranking, rrf, limit): the answer only feeds `fused([this, other], rrf, limit)`, so a near-tie
    whose order cannot change the fused best `limit` is left in id order and not looked up (`undecided`); the fused
    answer is the same as with the server's order."""
    n = len(ids)
    if n == 0 or depth <= 0:
        return []
    order = nearest_first(distances, min(depth, n), 2 * error)
    ends = np.flatnonzero(np.diff(distances[order]) > 2 * error)  # a block ends at each of these places
    # The blocks up to the one holding the depth-th row (the order given ends where a block does).
    reach = int(np.searchsorted(ends, min(depth, n) - 1))
    bounds = [0, *(ends[:reach] + 1).tolist(), int(ends[reach]) + 1 if reach < len(ends) else len(order)]
    blocks = [order[a:b].tolist() for a, b in pairwise(bounds)]
    near = [i for i, block in enumerate(blocks) if len(block) > 1 and len({int(groups[r]) for r in block}) > 1]
    if fusion is not None and near:
        near = [i for i in near if i not in undecided(ids, blocks, near, bounds, depth, fusion)]
    tied = [row for i in near for row in blocks[i]]
    server = dict(zip(tied, exact(tied), strict=True)) if tied else {}
    ranked: list[int] = []
    for block in blocks:
        if len(block) > 1:
            block.sort(key=(lambda r: (server[r], ids[r])) if block[0] in server else (lambda r: ids[r]))
        ranked.extend(block)
    return [ids[r] for r in ranked[:depth]]


def undecided(
    ids: Sequence[str],
    blocks: Sequence[Sequence[int]],
    near: Sequence[int],
    bounds: Sequence[int],
    depth: int,
    fusion: tuple[Sequence[str], int, int],
) -> set[int]:
    """The near-tie blocks (of `near`, indices into `blocks`, which start at `bounds`) whose order cannot change
    `fused([text, other], rrf, limit)`. A row's fused sum is its text term (1.0 / (rrf + rank) within `depth`) plus
    its other term, added in that order as `fused` adds them; a block's order moves only its own rows' text ranks,
    within the block. Every row outside the near-ties has a fixed sum; let T be the limit-th largest of them. A
    block each of whose rows has, even at the block's best rank, a sum below T is left: at least `limit` fixed rows
    are ahead of it in every order (the near-ties resolved can only add fixed rows, raising T), so the best `limit`
    and their sums are the same whatever its order."""
    other, rrf, limit = fusion
    if limit <= 0:
        return set(near)
    terms = {mid: 1.0 / (rrf + rank) for rank, mid in enumerate(other, start=1)}

    def summed(place: int, mid: str) -> float:
        """The fused sum of `mid` at text rank `place` + 1 (within `depth`): the text term, then the other's."""
        term = 1.0 / (rrf + place + 1)
        return term + terms[mid] if mid in terms else term

    skipped = set(near)
    moving = {ids[r] for i in near for r in blocks[i]}
    fixed: dict[str, float] = {}
    for i, block in enumerate(blocks):
        if i in skipped:
            continue
        for place, r in enumerate(block, start=bounds[i]):
            if place < depth:
                fixed[ids[r]] = summed(place, ids[r])
    for mid, term in terms.items():
        if mid not in fixed and mid not in moving:
            fixed[mid] = term
    if len(fixed) < limit:
        return set()
    threshold = sorted(fixed.values(), reverse=True)[limit - 1]

    def best(i: int, r: int) -> float:
        return summed(bounds[i], ids[r]) if bounds[i] < depth else terms.get(ids[r], 0.0)

    return {i for i in near if all(best(i, r) < threshold for r in blocks[i])}


# Below this many rows a whole sort costs about what the partition does.
_PARTIAL_FROM = 256


def nearest_first(distances: np.ndarray, k: int, gap: float) -> np.ndarray:
    """The first rows of `np.argsort(distances, kind="stable")`: all of them, or at least `k` (1 <= k) ending where a
    block ends (the next row is farther by more than `gap`). A similar-setups read wants the first blocks of a few
    rows out of every visible setup (thousands, late in a long backtest): the rows within 2 * `gap` of the k-th
    nearest are found by a partition and sorted alone. They are the sorted order's first rows (ties keep the index
    order: the stable sort of rows taken in index order); where the next row is not farther than `gap` from the last
    of them (a block runs on past the cut), or a distance is NaN, everything is sorted."""
    n = distances.size
    if n >= _PARTIAL_FROM and k < n and not np.isnan(distances).any():
        cut = np.partition(distances, k - 1)[k - 1] + 2 * gap
        near = np.flatnonzero(distances <= cut)
        far = distances[distances > cut]
        if far.size and far.min() - distances[near].max() > gap:
            return near[np.argsort(distances[near], kind="stable")]
    return np.argsort(distances, kind="stable")


def numeric_ranking(
    ids: Sequence[str], other: np.ndarray, gap: np.ndarray, week_distance: np.ndarray, depth: int
) -> list[str]:
    """The statement's numeric ranking of the rows given (the instrument's visible setups): by other direction (same
    first), |conviction gap|, the week's condition distance (inf for a week without one), id; the first `depth`."""
    n = len(ids)
    if n == 0 or depth <= 0:
        return []
    order = np.lexsort((week_distance, gap, other))
    if n > depth:
        # Rows tied with the depth-th on the three keys may reach the cut: ids decide among them.
        last = order[depth - 1]
        key = (other[last], gap[last], week_distance[last])
        end = depth
        while end < n and (other[order[end]], gap[order[end]], week_distance[order[end]]) == key:
            end += 1
        order = order[:end]
    rows = order.tolist()
    rows.sort(key=lambda i: (bool(other[i]), int(gap[i]), float(week_distance[i]), ids[i]))
    return [ids[i] for i in rows[:depth]]


def fused(rankings: Sequence[Sequence[str]], rrf: int, limit: int) -> list[tuple[str, float]]:
    """(id, RRF sum) of the best `limit`: sum of 1.0 / (rrf + rank) over the rankings, highest first, ties by id."""
    sums: dict[str, float] = {}
    for ranking in rankings:
        for rank, memory_id in enumerate(ranking, start=1):
            term = 1.0 / (rrf + rank)
            sums[memory_id] = sums[memory_id] + term if memory_id in sums else term
    best = sorted(sums.items(), key=lambda item: (-item[1], item[0]))
    return best[:limit]


def week_lookup(weeks: np.ndarray, dists: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The history's weeks (datetime64[D]) and distances sorted by week, for `week_distances`; None when a week
    repeats (the statement's join would then count a setup twice: the caller asks the server)."""
    order = np.argsort(weeks, kind="stable")
    by_week = weeks[order]
    if by_week.size > 1 and bool((by_week[1:] == by_week[:-1]).any()):
        return None
    return by_week, dists[order]


def week_distances(lookup: tuple[np.ndarray, np.ndarray], setup_weeks: np.ndarray) -> np.ndarray:
    """Each setup week's condition distance, inf where the history has none (the statement's coalesce)."""
    weeks, dists = lookup
    out = np.full(setup_weeks.size, math.inf)
    if weeks.size == 0 or setup_weeks.size == 0:
        return out
    at = np.minimum(np.searchsorted(weeks, setup_weeks), weeks.size - 1)
    found = weeks[at] == setup_weeks
    out[found] = dists[at[found]]
    return out


class Picked(Sequence[str]):
    """The ids of some rows, without building the list (the rankings here read a few of them)."""

    def __init__(self, ids: list[str], rows: np.ndarray):
        self._ids, self._rows = ids, rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: Any) -> Any:
        return self._ids[int(self._rows[i])]


def week_lookup_at(
    history: ConditionHistory, condition: MarketCondition, as_of: datetime
) -> tuple[np.ndarray, np.ndarray] | None:
    """The week distances by week for `condition` at `as_of`, kept by the history as the statement's are."""
    return history.memo(
        ("held.week_lookup", condition, as_of), lambda: week_lookup(*history.nearest_weeks(condition, as_of))
    )
