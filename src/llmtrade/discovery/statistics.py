"""The statistics `discover performance` reports, pure and small enough to check by hand.

spearman: the rank correlation (ties get their average rank). newey_west_t: the mean of a series over
its heteroskedasticity- and autocorrelation-consistent (HAC) standard error, Bartlett weights
1 - l/(L+1) on the autocovariances up to lag L (Newey & West 1987); overlapping forward windows make
successive ICs correlated, which a plain t-statistic would ignore.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, smallest first; tied values share their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    if n != len(y) or n < 2:
        return None
    mx, my = math.fsum(x) / n, math.fsum(y) / n
    sxy = math.fsum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = math.fsum((a - mx) ** 2 for a in x)
    syy = math.fsum((b - my) ** 2 for b in y)
    if sxx <= 0 or syy <= 0:
        return None  # a constant series (a pass/fail picker that passed everything) ranks nothing
    return sxy / math.sqrt(sxx * syy)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation; None for fewer than 3 pairs or a constant series."""
    if len(x) < 3:
        return None
    return pearson(ranks(x), ranks(y))


def default_lags(n: int) -> int:
    """Newey & West's (1994) rule: floor(4 (n/100)^(2/9))."""
    return math.floor(4 * (n / 100) ** (2 / 9)) if n > 0 else 0


def newey_west_t(series: Sequence[float], lags: int | None = None) -> float | None:
    """mean / sqrt(LRV / n), LRV = g0 + 2 sum_{l=1..L} (1 - l/(L+1)) g_l, g_l = (1/n) sum_t (x_t - m)(x_{t-l} - m).

    None for fewer than 3 values or a zero long-run variance."""
    n = len(series)
    if n < 3:
        return None
    lags = min(default_lags(n) if lags is None else lags, n - 1)
    mean = math.fsum(series) / n
    dev = [v - mean for v in series]

    def gamma(lag: int) -> float:
        return math.fsum(dev[t] * dev[t - lag] for t in range(lag, n)) / n

    lrv = gamma(0) + 2 * math.fsum((1 - lag / (lags + 1)) * gamma(lag) for lag in range(1, lags + 1))
    if lrv <= 1e-18:
        return None
    return mean / math.sqrt(lrv / n)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
