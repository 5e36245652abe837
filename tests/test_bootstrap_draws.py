"""The leaderboard's resamples are arch's stationary bootstrap's, drawn without importing arch (1.1-1.7 CPU
seconds a process): the same indices, so every interval keeps its bytes; this test fails the day arch draws
otherwise (then the intervals would have moved with an arch upgrade anyway)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from arch.bootstrap import StationaryBootstrap

from llmtrade.analytics.metrics import RESAMPLES, SEED, _indices, block_length


def _arch(n: int, block: int, reps: int, seed: int) -> np.ndarray:
    return np.stack([data[0][0] for data in StationaryBootstrap(block, np.arange(n), seed=seed).bootstrap(reps)])


@pytest.mark.parametrize("n", [20, 21, 64, 251, 520, 2607])
def test_the_draws_are_archs_for_the_leaderboards_block_length(n: int) -> None:
    ours = _indices(n, block_length(n), RESAMPLES, SEED)
    assert ours.dtype == np.int64 and ours.shape == (RESAMPLES, n) and not ours.flags.writeable
    assert np.array_equal(ours, _arch(n, block_length(n), RESAMPLES, SEED))


@pytest.mark.parametrize(("n", "block", "seed"), [(30, 1000, 3), (5, 50, 11), (40, 1, 1)])
def test_blocks_that_wrap_past_the_last_session_or_never_continue_are_archs(n: int, block: int, seed: int) -> None:
    # A mean block far longer than the series wraps from the last session to the first, often more than once.
    assert np.array_equal(_indices(n, block, 300, seed), _arch(n, block, 300, seed))


def test_an_interval_imports_neither_arch_nor_pandas() -> None:
    code = (
        "import sys; from llmtrade.analytics.metrics import sharpe_interval; "
        "assert sharpe_interval([0.01, -0.02, 0.015, 0.003] * 20).low is not None; "
        "print(sorted(m for m in ('arch', 'pandas', 'matplotlib', 'statsmodels') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
