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

import itertools
import math
import random
from datetime import datetime, timedelta
from functools import lru_cache

from llmtrade.domain.market import Bar

# Per-minute volatility as a share of the day's log range: small enough that the path mostly stays
# inside the range on its own (it is mirrored back at the extremes anyway), large enough to move between checkpoints.
_NOISE = 0.25


def session_minutes(opens: datetime, closes: datetime) -> int:
    """Whole minutes from the open to the close (390 on a full day, 210 on an early close)."""
    return max(1, int((closes - opens).total_seconds() // 60))


def bridge_path(bar: Bar, minutes: int, seed: str) -> tuple[float, ...]:
    """Prices at minutes 0..`minutes` of the session: [0] is the open, [minutes] the close, min low, max high.

    Deterministic for (bar, minutes, seed): the same day is priced the same in every process.
    """
    return _path(bar.open, bar.high, bar.low, bar.close, minutes, f"{seed}:{bar.symbol}:{bar.day.isoformat()}")


def point_at(opens: datetime, minutes: int, now: datetime) -> tuple[int, datetime]:
    """The path index in force at `now` and its instant: the last minute mark at or before `now`."""
    elapsed = int((now - opens).total_seconds() // 60)
    index = min(max(elapsed, 0), minutes)
    return index, opens + timedelta(minutes=index)


@lru_cache(maxsize=4096)
def _path(open_: float, high: float, low: float, close: float, n: int, seed: str) -> tuple[float, ...]:
    if high <= low or n < 2:
        return tuple([open_] * n + [close])
    rng = random.Random(seed)
    anchors = {0: open_, n: close}
    t_high = _touch(rng, high, open_, close, n, taken=set())
    anchors[t_high] = high
    t_low = _touch(rng, low, open_, close, n, taken={t_high})
    anchors[t_low] = low
    sigma = _NOISE * math.log(high / low) / math.sqrt(n)
    times = sorted(anchors)
    path = [open_] * (n + 1)
    for start, end in itertools.pairwise(times):
        _bridge(rng, path, start, anchors[start], end, anchors[end], sigma)
    bounds = (math.log(low), math.log(high))
    inside = [_reflect(p, *bounds) for p in path]
    for t, price in anchors.items():
        inside[t] = price
    # Rounding cannot leave the range: low and high are themselves 4-decimal prices.
    return tuple(min(high, max(low, round(p, 4))) for p in inside)


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


def _bridge(rng: random.Random, path: list[float], ta: int, pa: float, tb: int, pb: float, sigma: float) -> None:
    """Fill path[ta..tb] with a Brownian bridge in log price from pa to pb."""
    span = tb - ta
    if span <= 0:
        return
    walk = [0.0]
    for _ in range(span):
        walk.append(walk[-1] + rng.gauss(0.0, sigma))
    xa, xb = math.log(pa), math.log(pb)
    for k in range(span + 1):
        share = k / span
        path[ta + k] = math.exp(xa + (xb - xa) * share + walk[k] - share * walk[span])
