"""The standard normal the statistics use (analytics/normal.py `normal_cdf`, `normal_quantile`): the standard
library's, checked against scipy.special's ndtr and ndtri (an independent implementation, Cephes), and no scipy
import in the process for them."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import ndtr, ndtri

from llmtrade.analytics.normal import normal_cdf, normal_quantile


def test_the_cdf_is_scipys_to_within_2e_14_and_keeps_both_tails() -> None:
    for x in np.linspace(-8.0, 8.0, 4001):  # where a probability shows in a leaderboard's figures
        assert normal_cdf(float(x)) == pytest.approx(float(ndtr(x)), rel=2e-14), x
    for x in np.linspace(-37.0, -8.0, 2001):  # the far lower tail: two approximations of a tiny number
        assert normal_cdf(float(x)) == pytest.approx(float(ndtr(x)), rel=1e-12), x
    assert normal_cdf(-30.0) > 0  # the lower tail keeps its probability (1 + erf would give 0 here)
    assert normal_cdf(0.0) == 0.5 and normal_cdf(math.inf) == 1.0 and normal_cdf(-math.inf) == 0.0


def test_the_quantile_is_scipys_to_within_1e_13() -> None:
    ps = np.concatenate([np.linspace(1e-6, 1 - 1e-6, 4001), [1e-300, 1e-30, 1e-10, 0.5, 0.975, 1 - 1e-12]])
    for p in ps:
        assert normal_quantile(float(p)) == pytest.approx(float(ndtri(p)), rel=1e-13, abs=1e-15), p
    assert normal_quantile(0.975) == pytest.approx(1.959963984540054, rel=1e-15)


def test_the_statistics_import_no_scipy() -> None:
    # A backtest's process imported scipy.special (0.25 CPU seconds, on its own core) for three numbers.
    code = (
        "import sys\n"
        "from llmtrade.analytics import sharpe_odds as m\n"
        "r = [0.01, -0.02, 0.015, 0.003, -0.004] * 12\n"
        "assert m.probabilistic_sharpe(r) is not None and m.min_track_record(r) is not None\n"
        "assert m.expected_max_sharpe(5, 0.01) > 0 and m.deflated_sharpe(r, 5, 0.01) is not None\n"
        "print('scipy' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"


def test_the_student_quantile_is_scipys() -> None:
    # The bootstrap intervals' widening (analytics/expanded.py) takes t quantiles at real degrees of freedom (4.8 at
    # 8 paired weeks) without importing scipy.
    from scipy.stats import t

    from llmtrade.analytics.normal import student_quantile

    for df in [1.0, 1.5, 2.0, 3.0, 4.8, 7.7, 19.0, 100.0, 2600.0]:
        for p in [0.5, 0.9, 0.975, 0.99]:
            assert student_quantile(p, df) == pytest.approx(float(t.ppf(p, df)), rel=1e-6 if df < 2 else 1e-9), (p, df)
    with pytest.raises(ValueError):
        student_quantile(0.975, 0.5)
