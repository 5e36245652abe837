"""Performance statistics of a daily equity series, with honest uncertainty (pure; numpy, scipy, arch).

Conventions, everywhere in this module:
- a series is equity at consecutive session closes, oldest first; its daily returns are
  `equity[t] / equity[t-1] - 1` (fractions: 0.012 = +1.2%);
- annualised figures use 252 sessions a year (`SESSIONS_PER_YEAR`); Sharpe and Sortino use a zero
  risk-free rate (cash earns nothing on the paper accounts, so FLAT is the hurdle);
- "per-session" Sharpe (PSR, DSR, MinTRL) is mean / sample standard deviation (ddof 1), not annualised;
- skewness and kurtosis are the sample moments (biased, kurtosis not excess: 3 for a normal), as in
  Bailey & Lopez de Prado's formulas;
- degenerate inputs (no return, one return, zero variance: FLAT itself) give None, never NaN, inf or an
  exception.

Intervals come from the stationary bootstrap (Politis & Romano 1994) in `arch` with a fixed seed, so the same books
give the same bytes. The mean block length is `block_length(n)` = ceil(n ** (1/3)) sessions: n^(1/3) is the rate at
which the optimal mean block grows (Politis & White 2004); a fixed rule (not a per-series estimate) keeps every series
of a leaderboard on the same resamples, so the intervals of two accounts over the same sessions are paired. They are
expanded percentile intervals (analytics/expanded.py): plain percentiles held the truth 84-87% of the time at the
shortest series shown. arch is kept, though its import costs some 2 CPU seconds a process: a maintained bootstrap
beats a copy of its draws that would have to track arch's internals. numpy and arch are imported inside the
functions: `llmtrade --help` must not pay for them. The probabilities that a Sharpe ratio is skill (PSR, DSR,
MinTRL) are analytics/sharpe_odds.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from llmtrade.analytics import draws
from llmtrade.analytics.records import Interval

if TYPE_CHECKING:
    import numpy as np

SESSIONS_PER_YEAR = 252
LEVEL = 0.95
RESAMPLES = 2000
SEED = 7
# Below this a standard deviation is float noise on a constant series, not risk.
_TINY = 1e-12
# Fewer daily returns than this give no interval: a bootstrap of a handful of sessions (all up, say) resamples only
# what happened and would claim a certainty four weeks of data cannot give.
MIN_RETURNS_FOR_INTERVAL = 20
# Fewer daily returns than this give no Sharpe, Sortino or Calmar either: a ratio is shown only with the interval
# that says how little it means. On n iid daily returns the annualised Sharpe ratio's standard error is about
# sqrt(252 (1 + SR^2 / 2) / n) (Lo 2002, "The Statistics of Sharpe Ratios", FAJ 58(4), iid returns), at least
# sqrt(252 / n): 7.1 on a week's 5 returns, 3.5 on 20. A bare 4.2 from one week is noise presented as a figure.
MIN_RETURNS_FOR_RATIO = MIN_RETURNS_FOR_INTERVAL
# A bootstrap interval needs most resamples to give a statistic (a resample of a short series can be constant).
_MIN_FINITE_SHARE = 0.9


def bootstrap_description(reps: int = RESAMPLES, seed: int = SEED) -> str:
    """How the intervals are made, for the leaderboard's `bootstrap` field."""
    return (
        f"stationary bootstrap (arch), mean block ceil(n^(1/3)) sessions for n daily returns, "
        f"{reps} resamples, seed {seed}, {LEVEL:.0%} expanded percentile intervals (Hesterberg 2015, widened for the "
        "resamples' narrower spread and the few blocks the spread is estimated from); no Sharpe, Sortino, Calmar, "
        f"interval, PSR, DSR or weeks needed under {MIN_RETURNS_FOR_INTERVAL} daily returns"
    )


# ---------------------------------------------------------------- point estimates


def daily_returns(equity: Sequence[float]) -> list[float]:
    """Simple returns between consecutive closes; [] for fewer than two points. Raises ValueError on a
    non-positive equity (a return is undefined after a wipe-out)."""
    if any(e <= 0 for e in equity):
        raise ValueError("equity must be positive to have returns")
    return [equity[i] / equity[i - 1] - 1.0 for i in range(1, len(equity))]


def total_return(equity: Sequence[float]) -> float | None:
    """Last / first - 1, as a fraction; None for an empty series or one that begins at or below 0 (a span
    beginning after a wipe-out: no return is defined from nothing)."""
    if not equity or equity[0] <= 0:
        return None
    return equity[-1] / equity[0] - 1.0


def cagr(equity: Sequence[float]) -> float | None:
    """Compound annual growth rate, (last / first) ** (252 / n) - 1 over n daily returns; None when n < 1,
    the series ends at or below zero, or the growth is past the largest float."""
    n = len(equity) - 1
    if n < 1 or equity[0] <= 0 or equity[-1] <= 0:
        return None
    try:
        return _finite((equity[-1] / equity[0]) ** (SESSIONS_PER_YEAR / n) - 1.0)
    except OverflowError:  # a float power raises where numpy gives inf: a 17-fold day raised to 252 (a price gap)
        return None


def volatility(returns: Sequence[float]) -> float | None:
    """Annualised sample standard deviation of daily returns (ddof 1, x sqrt(252)); None when n < 2."""
    sd = _sd(returns)
    return None if sd is None else sd * math.sqrt(SESSIONS_PER_YEAR)


def sharpe(returns: Sequence[float]) -> float | None:
    """Annualised Sharpe ratio, mean / sd x sqrt(252), zero risk-free; None when n < 2 or sd is 0."""
    per = session_sharpe(returns)
    return None if per is None else per * math.sqrt(SESSIONS_PER_YEAR)


def session_sharpe(returns: Sequence[float]) -> float | None:
    """Per-session Sharpe ratio, mean / sd (ddof 1); None when n < 2 or sd is 0."""
    sd = _sd(returns)
    if sd is None or sd < _TINY:
        return None
    return math.fsum(returns) / len(returns) / sd


def sortino(returns: Sequence[float]) -> float | None:
    """Annualised Sortino ratio (Sortino & Price 1994), target 0: mean / downside deviation x sqrt(252),
    where the downside deviation is sqrt(mean(min(r, 0)^2)) over every session. None when n < 2 or
    there is no losing session."""
    n = len(returns)
    if n < 2:
        return None
    downside = math.sqrt(math.fsum(min(r, 0.0) ** 2 for r in returns) / n)
    if downside < _TINY:
        return None
    return math.fsum(returns) / n / downside * math.sqrt(SESSIONS_PER_YEAR)


def max_drawdown(equity: Sequence[float]) -> tuple[float, int]:
    """(depth, sessions) of the deepest fall from a running peak.

    depth: 1 - trough / peak, a positive fraction (0.0 for a series that never falls). sessions: the
    length of that drawdown, from its peak to the first close back at or above the peak, or to the
    last close when it never recovered (0 when there is no drawdown). Of equally deep drawdowns, the first. A fall from
    a peak at or below 0 counts as none: a fraction of nothing is undefined."""
    depth, length = 0.0, 0
    peak_at, falling = 0, 0.0  # the current peak and how deep the fall from it has gone
    for i, value in enumerate(equity):
        if value >= equity[peak_at]:
            if falling > depth:  # a drawdown ends here, recovered
                depth, length = falling, i - peak_at
            peak_at, falling = i, 0.0
        elif equity[peak_at] > 0:  # no fall is defined from a peak of nothing (a span that begins wiped out)
            falling = max(falling, 1.0 - value / equity[peak_at])
    if falling > depth:  # still under water at the last close
        depth, length = falling, len(equity) - 1 - peak_at
    return depth, length


def calmar(growth: float | None, drawdown: float) -> float | None:
    """CAGR / max drawdown; None without a CAGR or a drawdown."""
    if growth is None or drawdown < _TINY:
        return None
    return _finite(growth / drawdown)


def mean_excess(returns: Sequence[float], other: Sequence[float]) -> float | None:
    """Annualised mean daily excess return over `other` (same sessions): mean(r - o) x 252; None when empty.
    Raises ValueError when the two series differ in length."""
    if len(returns) != len(other):
        raise ValueError(f"excess return of series of {len(returns)} and {len(other)} sessions")
    if not returns:
        return None
    return math.fsum(r - o for r, o in zip(returns, other, strict=True)) / len(returns) * SESSIONS_PER_YEAR


# ---------------------------------------------------------------- bootstrap intervals


def block_length(n: int) -> int:
    """The stationary bootstrap's mean block length for n daily returns: ceil(n ** (1/3)), at least 1."""
    return max(1, math.ceil(n ** (1 / 3) - 1e-9))


def sharpe_interval(returns: Sequence[float], *, reps: int = RESAMPLES, seed: int = SEED) -> Interval:
    """The annualised Sharpe ratio with its stationary-bootstrap percentile interval. All None when the
    Sharpe is undefined; low/high None under `MIN_RETURNS_FOR_INTERVAL` returns or when fewer than 90% of
    resamples give a Sharpe ratio."""
    estimate = sharpe(returns)
    if estimate is None or len(returns) < MIN_RETURNS_FOR_INTERVAL:
        return Interval(estimate=estimate, low=None, high=None, level=LEVEL)
    import numpy as np

    mean, sd = _resampled_moments(returns, reps, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(sd >= _TINY, mean / sd, np.nan) * math.sqrt(SESSIONS_PER_YEAR)
    return _interval(estimate, values, len(returns), reps, seed)


def excess_interval(
    returns: Sequence[float], other: Sequence[float], *, reps: int = RESAMPLES, seed: int = SEED
) -> Interval:
    """`mean_excess` with its stationary-bootstrap percentile interval (the two series resampled together,
    by session). low/high None when the excess has zero variance (e.g. FLAT over FLAT) or there are fewer
    than `MIN_RETURNS_FOR_INTERVAL` returns."""
    estimate = mean_excess(returns, other)
    diff = [r - o for r, o in zip(returns, other, strict=True)]
    sd = _sd(diff)
    if estimate is None or sd is None or sd < _TINY or len(diff) < MIN_RETURNS_FOR_INTERVAL:
        return Interval(estimate=estimate, low=None, high=None, level=LEVEL)
    values = _resampled_means(diff, reps, seed) * SESSIONS_PER_YEAR
    return _interval(estimate, values, len(diff), reps, seed)


def paired_mean_interval(
    returns: Sequence[float],
    other: Sequence[float],
    *,
    minimum: int = MIN_RETURNS_FOR_INTERVAL,
    reps: int = RESAMPLES,
    seed: int = SEED,
) -> Interval:
    """The mean of the paired differences returns[i] - other[i] (same periods, not annualised), with its
    stationary-bootstrap percentile interval (the pairs resampled together). low/high None under `minimum`
    pairs or when the differences do not vary. Raises ValueError when the two series differ in length."""
    if len(returns) != len(other):
        raise ValueError(f"paired difference of series of {len(returns)} and {len(other)} periods")
    diff = [r - o for r, o in zip(returns, other, strict=True)]
    if not diff:
        return Interval(estimate=None, low=None, high=None, level=LEVEL)
    estimate = math.fsum(diff) / len(diff)
    sd = _sd(diff)
    if sd is None or sd < _TINY or len(diff) < minimum:
        return Interval(estimate=estimate, low=None, high=None, level=LEVEL)
    return _interval(estimate, _resampled_means(diff, reps, seed), len(diff), reps, seed)


def _resampled_moments(values: Sequence[float], reps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each resample's mean and sample standard deviation (ddof 1), as numpy gives them for the reps x n array of
    resampled values (analytics/resampled.py)."""
    return _reduced(values, reps, seed, deviation=True)


def _resampled_means(values: Sequence[float], reps: int, seed: int) -> np.ndarray:
    """Each resample's mean, as `_resampled_moments` gives it."""
    return _reduced(values, reps, seed, deviation=False)[0]


def _reduced(values: Sequence[float], reps: int, seed: int, *, deviation: bool) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    from llmtrade.analytics import resampled

    series = np.asarray(values, dtype=float)
    n = len(series)
    return resampled.reduced(
        series, lambda: _indices(n, block_length(n), reps, seed), (reps, seed), deviation=deviation
    )


def draw_ahead(counts: Sequence[int], *, reps: int = RESAMPLES, seed: int = SEED) -> None:
    """Inside `draws.drawn_apart()`, have its worker start making the draws of series of these numbers of daily
    returns now (those too short for an interval aside), for `_indices` to take when an interval asks; nothing
    outside it."""
    worker = draws.current()
    if worker is None:
        return
    for n in dict.fromkeys(counts):
        if n >= MIN_RETURNS_FOR_INTERVAL:
            worker.ahead(n, block_length(n), reps, seed)


@lru_cache(maxsize=4)
def _indices(n: int, block: int, reps: int, seed: int) -> np.ndarray:
    """`arch_indices(n, block, reps, seed)`, read-only: the same for every series of n sessions, so the resamples
    of two accounts over the same sessions are paired (and computed once). Inside `draws.drawn_apart()` they are
    made by its worker process, which imported arch on another core meanwhile (the same call: the same draws)."""
    worker = draws.current()
    made = worker.indices(n, block, reps, seed) if worker is not None else None
    if made is None:
        made = arch_indices(n, block, reps, seed)
    made.setflags(write=False)
    return made


def arch_indices(n: int, block: int, reps: int, seed: int) -> np.ndarray:
    """`reps` stationary-bootstrap index draws of length n (an int64 array, reps x n) from `arch`'s
    StationaryBootstrap with mean block `block` and generator seed `seed`."""
    import numpy as np
    from arch.bootstrap import StationaryBootstrap

    bootstrap = StationaryBootstrap(block, np.arange(n), seed=seed)
    return np.stack([data[0][0] for data in bootstrap.bootstrap(reps)])


def _interval(estimate: float, values: np.ndarray, n: int, reps: int, seed: int) -> Interval:
    """The interval of `values`, the statistic of each resample of a series of n returns drawn with (reps, seed)."""
    import numpy as np

    finite = values[np.isfinite(values)]
    if finite.size < _MIN_FINITE_SHARE * values.size:
        return Interval(estimate=estimate, low=None, high=None, level=LEVEL)
    tail = tail_share(n, reps, seed) * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(estimate=estimate, low=float(low), high=float(high), level=LEVEL)


@lru_cache(maxsize=4)
def tail_share(n: int, reps: int, seed: int) -> float:
    """The share of resamples each end of a `LEVEL` interval over n returns leaves out (analytics/expanded.py): the
    same draws, so the same share, for every series of n sessions."""
    from llmtrade.analytics.expanded import tail_share as share

    return share(_indices(n, block_length(n), reps, seed), block_length(n), LEVEL)


def sharpe_error(n: int) -> float | None:
    """The standard error of an annualised Sharpe ratio of 0 on n iid daily returns, sqrt(252 / n) (Lo 2002 at
    SR = 0; larger for any other SR); None for no return."""
    return math.sqrt(SESSIONS_PER_YEAR / n) if n >= 1 else None


def _sd(values: Sequence[float]) -> float | None:
    n = len(values)
    if n < 2:
        return None
    mean = math.fsum(values) / n
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
