"""The bootstrap's resamples reduced to each one's mean (and standard deviation), for `metrics`' intervals.

Exactly numpy's `samples.mean(axis=1)` and `samples.std(axis=1, ddof=1)` of the reps x n array `series[indices]`,
to the bit: each resample's figures are a reduction of its own row, which numpy computes the same whichever other
rows are in the array. Reduced a block of rows at a time, and the means of the last series kept.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# A block of resamples (1.3 MB at 2,600 sessions) and its temporaries stay in the processor's cache, where the whole
# 2,000 x n array (41 MB, and as much again for each temporary of `std`) went to memory and back several times
# (measured 96 -> 28 ms a series at 2,600 sessions).
ROWS_AT_ONCE = 64
# The means of the last series resampled, by their bytes and draws: an account's excess over FLAT (whose returns are
# all 0.0) is its own returns again, resampled already for its Sharpe interval.
_MEANS_KEPT = 32
_means: dict[tuple[bytes, Hashable], np.ndarray] = {}


def reduced(
    series: np.ndarray, indices: Callable[[], np.ndarray], draws: Hashable, *, deviation: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(means, standard deviations) of the resamples `series[indices()]`; `draws` names the indices (the same name,
    the same indices, for a series of this length). Without `deviation` only the means are computed, and the second
    array is the first again."""
    import numpy as np

    key = (series.tobytes(), draws)
    kept = _means.get(key)
    if kept is not None and not deviation:
        return kept, kept
    drawn = indices()
    mean = np.empty(len(drawn))
    sd = np.empty(len(drawn) if deviation else 0)
    for first in range(0, len(drawn), ROWS_AT_ONCE):
        rows = slice(first, first + ROWS_AT_ONCE)
        samples = series.take(drawn[rows])
        mean[rows] = samples.mean(axis=1)
        if deviation:
            sd[rows] = samples.std(axis=1, ddof=1)
    mean.setflags(write=False)
    if len(_means) >= _MEANS_KEPT:
        _means.clear()
    _means[key] = mean
    return mean, (sd if deviation else mean)
