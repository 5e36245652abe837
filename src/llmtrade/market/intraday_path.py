"""A deterministic intraday path through a daily bar: a seeded Brownian bridge on a minute grid.

The synthetic market prices its sessions with it, and a CSV folder without intraday files uses it as a
clearly labelled approximation (see csv_quotes.py). The path starts at the bar's open, ends at its close,
touches its high and its low once each at seeded minutes, and never leaves [low, high].

Why a bridge and not "the open" or a straight line from open to close: a straight line tells anyone who
sees the 12:00 price the sign of the day's move (look-ahead), and the open is a price from before a
12:00 order. A Brownian bridge between the day's extremes gives a 12:00 price whose relation to the
close is what a random walk's would be, without revealing more of the day than a real 12:00 print does.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import random
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from llmtrade.domain.market import Bar

# Per-minute volatility as a share of the day's log range: small enough that the path mostly stays
# inside the range on its own (it is mirrored back at the extremes anyway), large enough to move between checkpoints.
_NOISE = 0.25

# What a day's plan depends on: open, high, low, close, minutes, seed.
PlanKey = tuple[float, float, float, float, int, str]


def session_minutes(opens: datetime, closes: datetime) -> int:
    """Whole minutes from the open to the close (390 on a full day, 210 on an early close)."""
    return max(1, int((closes - opens).total_seconds() // 60))


def bridge_path(bar: Bar, minutes: int, seed: str) -> tuple[float, ...]:
    """Prices at minutes 0..`minutes` of the session: [0] is the open, [minutes] the close, min low, max high.

    Deterministic for (bar, minutes, seed): the same day is priced the same in every process.
    """
    plan = _plan(*_key(bar, minutes, seed))
    return tuple(_price(plan, k) for k in range(plan.n + 1))


def bridge_price(bar: Bar, minutes: int, seed: str, index: int) -> float:
    """`bridge_path(bar, minutes, seed)[index]`, to the bit, without pricing the day's other minutes: the
    seeded draws are made once per day (kept), each asked-for minute costs one point."""
    return bridge_prices([bar], minutes, seed, index)[0]


def bridge_prices(bars: Sequence[Bar], minutes: int, seed: str, index: int) -> list[float]:
    """`[bridge_price(bar, minutes, seed, index) for bar in bars]`, to the bit: the days not priced yet (a quote of
    the whole universe at a day's first checkpoint) have their draws made together, one array pass for them all
    instead of one per day. Raises IndexError for a minute outside a session's 0..minutes."""
    return prices_at(day_plans(bars, minutes, seed), index)


def day_plans(bars: Sequence[Bar], minutes: int, seed: str) -> list[Plan]:
    """Each bar's day planned (kept, or made together as `bridge_prices` says), for `prices_at`: a caller that
    prices the same days at several minutes (a backtest's checkpoints of a day) plans them once."""
    return _plans([_key(bar, minutes, seed) for bar in bars])


def prices_at(plans: Sequence[Plan], index: int) -> list[float]:
    """Each planned day's price at minute `index`, as `bridge_price` gives it. Raises IndexError for a minute
    outside a session's 0..minutes."""
    for plan in plans:
        if not 0 <= index <= plan.n:
            raise IndexError(f"minute {index} is outside the session's 0..{plan.n}")
    return [_price(plan, index) for plan in plans]


def _key(bar: Bar, minutes: int, seed: str) -> tuple[float, float, float, float, int, str]:
    return (bar.open, bar.high, bar.low, bar.close, minutes, f"{seed}:{bar.symbol}:{bar.day.isoformat()}")


def plan_keys(bars: Sequence[Bar], minutes: int, seed: str) -> list[PlanKey]:
    """What `day_plans(bars, minutes, seed)` plans each bar's day by: everything its plan depends on."""
    return [_key(bar, minutes, seed) for bar in bars]


def made_plans(keys: Sequence[PlanKey]) -> list[Plan]:
    """Each key's plan, made here and now (neither kept nor looked up): what a process that plans days for another
    runs (market/paths_ahead.py). The same plans, to the bit, as `day_plans` makes for the same keys."""
    made = _made(list(dict.fromkeys(keys)))
    return [made[key] for key in keys]


# Where plans made elsewhere are found (market/paths_ahead.py: a backtest's worker process), asked for the keys not
# kept before any is made here. A plan depends on its key alone, so any source's plan of a key is this process's.
PlanSource = Callable[[Sequence[PlanKey]], dict[PlanKey, "Plan"]]
_ELSEWHERE: list[PlanSource] = []


@contextlib.contextmanager
def planned_elsewhere(source: PlanSource) -> Iterator[None]:
    """Inside the block, days not kept are first asked of `source` (which answers what it has, at once)."""
    with _PLANS_LOCK:
        _ELSEWHERE.append(source)
    try:
        yield
    finally:
        with _PLANS_LOCK:
            _ELSEWHERE.remove(source)


def point_at(opens: datetime, minutes: int, now: datetime) -> tuple[int, datetime]:
    """The path index in force at `now` and its instant: the last minute mark at or before `now`."""
    elapsed = int((now - opens).total_seconds() // 60)
    index = min(max(elapsed, 0), minutes)
    return index, opens + timedelta(minutes=index)


@dataclass(frozen=True)
class Plan:
    """A day's path before any price is computed: its anchors (minute -> open, close, high, low) and, per
    stretch between two anchors, the seeded random walk the bridge bends; `flat` for a day with no range."""

    n: int
    open_: float
    high: float
    low: float
    close: float
    flat: bool
    anchors: dict[int, float]
    starts: tuple[int, ...]  # each stretch's first minute, ascending (the last anchor, n, starts none)
    walks: tuple[np.ndarray, ...]  # walks[i][k]: the walk k minutes into stretch i (read two points a price)

    @property
    def walk_values(self) -> tuple[tuple[float, ...], ...]:
        """The walks as floats (tests compare them with random.gauss's)."""
        return tuple(tuple(walk.tolist()) for walk in self.walks)


# The plans of the days priced last (a backtest's checkpoints price each day three times), least recent first.
_PLANS: OrderedDict[PlanKey, Plan] = OrderedDict()
_PLANS_KEPT = 4096
_PLANS_LOCK = threading.Lock()


def _plan(open_: float, high: float, low: float, close: float, n: int, seed: str) -> Plan:
    return _plans([(open_, high, low, close, n, seed)])[0]


def _plans(keys: Sequence[PlanKey]) -> list[Plan]:
    """Each key's plan; those not kept are made together (`_made`) and kept."""
    with _PLANS_LOCK:
        found = {key: _PLANS.get(key) for key in keys}
        for key, plan in found.items():
            if plan is not None:
                _PLANS.move_to_end(key)
        sources = list(_ELSEWHERE)
    missing = [key for key, plan in found.items() if plan is None]
    for source in sources:
        if not missing:
            break
        given = source(missing)
        missing = [key for key in missing if key not in given]
        found.update(given)
        _keep(given)
    if missing:
        made = _made(missing)
        found.update(made)
        _keep(made)
    return [found[key] for key in keys]  # type: ignore[misc]  # every key found or made


def _keep(plans: dict[PlanKey, Plan]) -> None:
    with _PLANS_LOCK:
        _PLANS.update(plans)
        while len(_PLANS) > _PLANS_KEPT:
            _PLANS.popitem(last=False)


def _made(keys: Sequence[PlanKey]) -> dict[PlanKey, Plan]:
    """The plans of `keys` (distinct), each from its own seeded generator in the order one plan alone draws: the
    two touch minutes, then one gauss per minute, stretch after stretch (the stretches tile 0..n)."""
    made: dict[PlanKey, Plan] = {}
    drafts: list[tuple[PlanKey, dict[int, float], int]] = []
    draws: list[tuple[int, int, float]] = []
    for key in keys:
        open_, high, low, close, n, seed = key
        if high <= low or n < 2:
            made[key] = Plan(n, open_, high, low, close, True, {}, (), ())
            continue
        rng = random.Random(seed)
        anchors = {0: open_, n: close}
        t_high = _touch(rng, high, open_, close, n, taken=set())
        anchors[t_high] = high
        t_low = _touch(rng, low, open_, close, n, taken={t_high})
        anchors[t_low] = low
        sigma = _NOISE * math.log(high / low) / math.sqrt(n)
        drafts.append((key, anchors, n))
        draws.append((rng.getrandbits(128 * ((n + 1) // 2)), n, sigma))
    for (key, anchors, n), steps in zip(drafts, _step_arrays(draws), strict=True):
        open_, high, low, close, _, _ = key
        times = sorted(anchors)
        walks = tuple(_walk(steps[a:b]) for a, b in itertools.pairwise(times))
        made[key] = Plan(n, open_, high, low, close, False, anchors, tuple(times[:-1]), walks)
    return made


def _walk(steps: np.ndarray) -> np.ndarray:
    """`itertools.accumulate(steps, initial=0.0)`, to the bit: numpy's cumulative sum adds one element at a time in
    order (an accumulate, not the pairwise sum of np.sum), and `0.0 + step` is `step` (no step is -0.0: each is
    `0.0 + ...`). Summed in C, not one Python addition per minute, and kept as an array: a price reads two of its
    points (`_price`, as floats), so the day's 390 are never turned into Python floats."""
    walk = np.empty(len(steps) + 1)
    walk[0] = 0.0
    steps.cumsum(out=walk[1:])  # the method: np.cumsum is a Python wrapper around it, called per stretch
    return walk


def _price(plan: Plan, k: int) -> float:
    """The path's price at minute `k`: the bridge's point, folded into [low, high], anchors exact, 4 decimals."""
    if plan.flat:
        return plan.open_ if k < plan.n else plan.close
    anchored = plan.anchors.get(k)
    if anchored is None:
        i = bisect_right(plan.starts, k) - 1
        start, walk = plan.starts[i], plan.walks[i]
        span = len(walk) - 1
        pa, pb = plan.anchors[start], plan.anchors[start + span]
        xa, xb = math.log(pa), math.log(pb)
        share = (k - start) / span
        # `item`: the array's doubles as Python floats, so the arithmetic is float's (the same IEEE operations).
        point = math.exp(xa + (xb - xa) * share + walk.item(k - start) - share * walk.item(span))
        anchored = _reflect(point, math.log(plan.low), math.log(plan.high))
    # Rounding cannot leave the range: low and high are themselves 4-decimal prices.
    return min(plan.high, max(plan.low, round(anchored, 4)))


def _reflect(price: float, lo: float, hi: float) -> float:
    """`price` folded back into [exp(lo), exp(hi)] in log space (a mirror, not a clip: no flat stretches)."""
    x = math.log(price)
    width = hi - lo
    offset = (x - lo) % (2 * width)
    return math.exp(lo + (offset if offset <= width else 2 * width - offset))


def _touch(rng: random.Random, level: float, open_: float, close: float, n: int, taken: set[int]) -> int:
    """The minute the path touches `level`: the open or close when it is one of them, else a seeded inner minute."""
    if level == open_ and 0 not in taken:
        return 0
    if level == close and n not in taken:
        return n
    while True:
        t = rng.randint(1, n - 1)
        if t not in taken or n < 3:
            return t


def _steps(rng: random.Random, count: int, sigma: float) -> list[float]:
    """`0.0 + rng.gauss(0.0, 1.0) * sigma`, `count` times from a generator whose gauss has no draw held over, to
    the bit (see `_gaussian_steps`)."""
    return _gaussian_steps([(rng.getrandbits(128 * ((count + 1) // 2)), count, sigma)])[0]


def _gaussian_steps(draws: Sequence[tuple[int, int, float]]) -> list[list[float]]:
    """`_step_arrays` as lists of floats."""
    return [steps.tolist() for steps in _step_arrays(draws)]


def _step_arrays(draws: Sequence[tuple[int, int, float]]) -> list[np.ndarray]:
    """For each (bits, count, sigma): `count` steps `0.0 + rng.gauss(0.0, 1.0) * sigma` of the generator whose next
    `128 * ceil(count / 2)` bits are `bits` (as `getrandbits` hands them over, first word lowest), to the bit, all
    draws in a few array operations (a day's path was a Python loop of 195 Box-Muller pairs, the bulk of pricing
    a session; the days of one quote share the passes): the 32-bit words made into doubles as `random.random`
    makes them (two words each), then random.gauss's pairs (a cosine draw, then its sine partner) with the same
    operations in the same order on each element. log, cos and sin are the math module's (the C library's, as
    random.gauss's are): numpy's own vectorised versions may differ from them in the last bit on some CPUs (its
    SIMD kernels), which changed every quote on such a machine; sqrt is correctly rounded everywhere.
    tests/test_backtest_speedups.py checks the steps against random.gauss's. Walked by `_walk` (a running sum),
    the steps give what `walk.append(walk[-1] + rng.gauss(0.0, sigma))` gave."""
    each = [(count + 1) // 2 for _, count, _ in draws]
    pairs = sum(each)
    # Four words a pair: two doubles of two words each. Every draw's words start at a multiple of four.
    raw = b"".join(bits.to_bytes(16 * n, "little") for (bits, _, _), n in zip(draws, each, strict=True))
    words = np.frombuffer(raw, dtype="<u4")
    uniform = ((words[0::2] >> 5) * 67108864.0 + (words[1::2] >> 6)) * (1.0 / 9007199254740992.0)
    x2pi = (uniform[0::2] * math.tau).tolist()
    logs = np.fromiter(map(math.log, (1.0 - uniform[1::2]).tolist()), dtype=float, count=pairs)
    g2rad = np.sqrt(-2.0 * logs)
    sigmas = np.repeat(np.array([sigma for _, _, sigma in draws], dtype=float), each)
    steps = np.empty(2 * pairs)
    steps[0::2] = 0.0 + np.fromiter(map(math.cos, x2pi), dtype=float, count=pairs) * g2rad * sigmas
    steps[1::2] = 0.0 + np.fromiter(map(math.sin, x2pi), dtype=float, count=pairs) * g2rad * sigmas
    out: list[np.ndarray] = []
    at = 0
    for (_, count, _), n in zip(draws, each, strict=True):
        out.append(steps[at : at + count])
        at += 2 * n
    return out
