"""How far into the tails of the stationary bootstrap's resamples a 95% interval reaches (pure; numpy).

The plain percentile interval (the 2.5th and 97.5th percentiles of the resampled statistic) is too narrow on the
short series a leaderboard first shows an interval for: on iid normal returns its "95%" intervals held the true value
84-87% of the time at 20 daily returns and at 8 or 12 paired weeks (tests/test_analytics_metrics.py). Two reasons,
each of which is exact arithmetic on the draws rather than a tuning:

- the resampled means vary less than the mean itself does. For an iid series of variance s^2, the variance of a
  resample's mean is `variance_ratio(indices)` x s^2 / n, where the ratio is n x the sum over sessions of the
  variance of each session's weight in a resample (its count / n) over these very draws: (n - 1) / n for the iid
  bootstrap, and less for blocks of a few sessions out of few (0.70 at 8, 0.78 at 20, 0.95 at 250);
- the spread is estimated, from few blocks, where normal quantiles take it as known. The stationary bootstrap's
  variance is a kernel estimate with weights q^|k| (q = 1 - 1/block), worth n (1 - q^2) / (1 + q^2) degrees of freedom
  (n / the sum of the squared weights), and no more than the n - 1 of a sample variance.

So the interval reaches to the percentiles of the expanded percentile interval (Hesterberg 2015, "What Teachers
Should Know About the Bootstrap", The American Statistician 69(4), section 4.3): the tail share Phi(-z') with
z' = t_df(0.975) / sqrt(ratio), which for the iid bootstrap (ratio (n - 1) / n, df n - 1) is Hesterberg's own
sqrt(n / (n - 1)) t_{n-1}. It keeps the percentile interval's asymmetry; on iid normal and t(3) returns it covers
94.5-96.5% from 8 returns up (a scratch simulation of 800 series a length), and at 250 returns it is some 2% wider
than the plain one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from llmtrade.analytics.normal import normal_cdf, student_quantile

if TYPE_CHECKING:
    import numpy as np

# Resamples counted at a time: the counts of a block of rows stay small (64 x n), as in analytics/resampled.py.
_ROWS_AT_ONCE = 64


def tail_share(indices: np.ndarray, block: int, level: float) -> float:
    """The share of resamples each end of a `level` interval leaves out, from the bootstrap's index draws `indices`
    (reps x n, mean block `block`): Phi(-t_df((1 + level) / 2) / sqrt(variance_ratio)). Needs n >= 2."""
    n = indices.shape[1]
    q = 1.0 - 1.0 / block
    df = min(n - 1.0, n * (1.0 - q * q) / (1.0 + q * q))
    z = student_quantile((1.0 + level) / 2.0, max(df, 1.0)) / math.sqrt(variance_ratio(indices))
    return normal_cdf(-z)


def variance_ratio(indices: np.ndarray) -> float:
    """The variance of a resample's mean of an iid series over these draws, per s^2 / n: n x the sum over sessions of
    the variance, across resamples, of the session's weight (its count in the resample / n)."""
    import numpy as np

    reps, n = indices.shape
    total = np.zeros(n)
    squares = np.zeros(n)
    for first in range(0, reps, _ROWS_AT_ONCE):
        rows = indices[first : first + _ROWS_AT_ONCE]
        offsets = (np.arange(len(rows)) * n)[:, None]
        counts = np.bincount((rows + offsets).ravel(), minlength=len(rows) * n).reshape(len(rows), n)
        total += counts.sum(axis=0)
        squares += (counts * counts).sum(axis=0)
    variances = squares / reps - (total / reps) ** 2
    return float(variances.sum()) / n
