"""The leaderboard's statistics against what does not share their formulas: arch's own percentile interval, the
sampling spread of the Sharpe ratio simulated, the exact expected maximum of N normals by quadrature, and drawdowns
from numpy's running maximum. tests/test_analytics_metrics.py writes the papers' formulas out again; a convention
copied wrong into both (kurtosis for excess kurtosis, the sign of the skew term, a draw read off the wrong axis) would
agree with itself there, and not here."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
import scipy.integrate
import scipy.stats

from llmtrade.analytics import metrics, sharpe_odds

N = NormalDist()


def test_the_interval_is_archs_own_percentile_interval_where_it_is_not_widened(monkeypatch: pytest.MonkeyPatch) -> None:
    # With the tail share at the plain 2.5%, the interval must be arch's conf_int(method="percentile") over the same
    # StationaryBootstrap (block, seed, reps): the same draws, the same statistic, the same percentiles.
    from arch.bootstrap import StationaryBootstrap

    returns = np.random.default_rng(11).standard_t(4, size=120) * 0.01 + 0.0008
    monkeypatch.setattr(metrics, "tail_share", lambda n, reps, seed: 0.025)
    ours = metrics.sharpe_interval(returns.tolist(), reps=500, seed=3)
    bootstrap = StationaryBootstrap(metrics.block_length(len(returns)), returns, seed=3)
    low, high = bootstrap.conf_int(
        lambda x: np.array([x.mean() / x.std(ddof=1) * math.sqrt(252)]), reps=500, method="percentile"
    ).ravel()
    assert (ours.low, ours.high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))


def test_psr_spreads_the_sharpe_ratio_as_simulated_samples_of_skewed_fat_tailed_returns_do() -> None:
    # Exponential shocks (skewness 2, kurtosis 9) at a per-session Sharpe ratio of 0.3: the sampling sd of the Sharpe
    # ratio is sqrt((1 - g3 SR + (g4 - 1) / 4 SR^2) / (n - 1)). Excess kurtosis in that formula makes it 6% narrower,
    # the skew's sign flipped 75% wider, Lo's normal 1 + SR^2 / 2 21% wider: the simulated spread tells them apart.
    rng = np.random.default_rng(2012)
    n, sims, true_sr, below = 250, 3000, 0.3, 0.1
    samples = true_sr + rng.exponential(1.0, size=(sims, n)) - 1.0
    estimates, implied = [], []
    for row in samples.tolist():
        sr = metrics.session_sharpe(row)
        psr = sharpe_odds.probabilistic_sharpe(row, benchmark=true_sr - below)
        assert sr is not None and psr is not None
        estimates.append(sr)
        implied.append((sr - (true_sr - below)) / N.inv_cdf(psr))  # PSR = Phi((SR - SR*) / se): se back out
    simulated = float(np.std(estimates, ddof=1))
    assert float(np.median(implied)) == pytest.approx(simulated, rel=0.04)


@pytest.mark.parametrize("trials", [10, 100, 1000])
def test_expected_max_sharpe_is_near_the_exact_mean_of_the_largest_of_n_normals(trials: int) -> None:
    # E[max of N standard normals] = integral of x N phi(x) Phi(x)^(N - 1): Bailey & Lopez de Prado's approximation
    # (Euler-Mascheroni weights) is within 2.5% of it from N = 10 up; a missing gamma term or 1/N for 1/(N e) is not.
    exact, _ = scipy.integrate.quad(
        lambda x: x * trials * scipy.stats.norm.pdf(x) * scipy.stats.norm.cdf(x) ** (trials - 1), -10, 10, limit=200
    )
    assert sharpe_odds.expected_max_sharpe(trials, 1.0) == pytest.approx(exact, rel=0.025)
    assert sharpe_odds.expected_max_sharpe(trials, 0.04) == pytest.approx(0.2 * exact, rel=0.025)


@pytest.mark.parametrize("seed", range(5))
def test_max_drawdown_and_its_sessions_are_numpys_running_maximum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    equity = 100.0 * np.cumprod(1 + rng.normal(0.0002, 0.02, size=400))
    falls = 1 - equity / np.maximum.accumulate(equity)
    trough = int(np.argmax(falls))
    peak = int(np.flatnonzero(equity[: trough + 1] >= np.maximum.accumulate(equity)[trough])[-1])
    back = np.flatnonzero(equity[trough:] >= equity[peak])
    sessions = int(back[0]) + trough - peak if back.size else len(equity) - 1 - peak
    assert metrics.max_drawdown(equity.tolist()) == (pytest.approx(float(falls.max()), rel=1e-12), sessions)
