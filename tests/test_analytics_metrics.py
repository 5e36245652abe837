"""The leaderboard's statistics: hand-computed values, an independent implementation written plainly here
(statistics, math, NormalDist), bootstrap coverage on simulated returns, and degenerate inputs."""

from __future__ import annotations

import math
import random
import statistics
from statistics import NormalDist

import numpy as np
import pytest
import scipy.stats

from llmtrade.analytics import metrics, sharpe_odds

UP_DOWN_UP = [100.0, 110.0, 99.0, 108.9]  # returns +10%, -10%, +10%
N = NormalDist()


# ---------------------------------------------------------------- by hand


def test_returns_total_and_cagr_by_hand() -> None:
    assert metrics.daily_returns(UP_DOWN_UP) == pytest.approx([0.1, -0.1, 0.1])
    assert metrics.total_return(UP_DOWN_UP) == pytest.approx(0.089)
    assert metrics.cagr([100.0, 101.0]) == pytest.approx(1.01**252 - 1)
    assert metrics.cagr(UP_DOWN_UP) == pytest.approx(1.089 ** (252 / 3) - 1)


def test_sharpe_sortino_and_volatility_of_up_down_up_by_hand() -> None:
    returns = metrics.daily_returns(UP_DOWN_UP)
    # mean 1/30, sd sqrt(0.04/3): per session 1/(2 sqrt 3), so sqrt(252/12) = sqrt(21) a year.
    assert metrics.session_sharpe(returns) == pytest.approx(1 / (2 * math.sqrt(3)))
    assert metrics.sharpe(returns) == pytest.approx(math.sqrt(21))
    assert metrics.volatility(returns) == pytest.approx(math.sqrt(0.04 / 3) * math.sqrt(252))
    # Downside deviation sqrt(0.01 / 3): mean / dd = 1 / sqrt(3), so sqrt(84) a year.
    assert metrics.sortino(returns) == pytest.approx(math.sqrt(84))


def test_skew_kurtosis_and_psr_of_up_down_up_by_hand() -> None:
    returns = metrics.daily_returns(UP_DOWN_UP)
    skew, kurt = sharpe_odds.moments(returns) or (None, None)
    assert skew == pytest.approx(-1 / math.sqrt(2))
    assert kurt == pytest.approx(1.5)
    sr = 1 / (2 * math.sqrt(3))
    expected = N.cdf(sr * math.sqrt(2) / math.sqrt(1 + sr / math.sqrt(2) + 0.5 / 4 * sr * sr))
    assert sharpe_odds.probabilistic_sharpe(returns) == pytest.approx(expected)
    assert expected == pytest.approx(0.6445, abs=1e-4)


def test_max_drawdown_not_recovered_runs_to_the_end() -> None:
    assert metrics.max_drawdown(UP_DOWN_UP) == pytest.approx((0.1, 2))


def test_max_drawdown_is_the_deepest_and_its_duration_runs_peak_to_recovery() -> None:
    # A 10% fall recovered after 3 sessions, then a 50% fall from 120 recovered 2 sessions later.
    depth, sessions = metrics.max_drawdown([100, 90, 95, 100, 120, 60, 130])
    assert depth == pytest.approx(0.5) and sessions == 2
    assert metrics.max_drawdown([100, 101, 102]) == (0.0, 0)


def test_calmar_is_cagr_over_max_drawdown() -> None:
    assert metrics.calmar(0.2, 0.1) == pytest.approx(2.0)
    assert metrics.calmar(0.2, 0.0) is None and metrics.calmar(None, 0.1) is None


def test_expected_max_sharpe_by_hand() -> None:
    gamma = 0.5772156649015329
    expected = (1 - gamma) * N.inv_cdf(1 - 1 / 10) + gamma * N.inv_cdf(1 - 1 / (10 * math.e))
    assert sharpe_odds.expected_max_sharpe(10, 1.0) == pytest.approx(expected)
    assert sharpe_odds.expected_max_sharpe(10, 0.04) == pytest.approx(0.2 * expected)
    assert sharpe_odds.expected_max_sharpe(1, 0.04) == 0.0


def test_mean_excess_is_annualised_mean_daily_difference() -> None:
    assert metrics.mean_excess([0.01, 0.02], [0.0, 0.01]) == pytest.approx(0.01 * 252)
    with pytest.raises(ValueError, match="2 and 1 sessions"):
        metrics.mean_excess([0.01, 0.02], [0.0])


def test_block_length_is_the_cube_root_rounded_up() -> None:
    assert [metrics.block_length(n) for n in (1, 8, 9, 27, 125, 126, 1000)] == [1, 2, 3, 3, 5, 6, 10]


# ---------------------------------------------------------------- an independent implementation


def _plain(returns: list[float], trials: int, variance: float) -> dict[str, float]:
    """The same statistics written from the papers with the standard library only."""
    n = len(returns)
    mean, sd = statistics.mean(returns), statistics.stdev(returns)
    sr = mean / sd
    centred = [r - mean for r in returns]
    m2 = sum(c * c for c in centred) / n
    skew = sum(c**3 for c in centred) / n / m2**1.5
    kurt = sum(c**4 for c in centred) / n / m2**2

    def psr(target: float) -> float:
        return N.cdf((sr - target) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2))

    gamma = 0.5772156649015329
    sr0 = math.sqrt(variance) * ((1 - gamma) * N.inv_cdf(1 - 1 / trials) + gamma * N.inv_cdf(1 - 1 / (trials * math.e)))
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / n)
    return {
        "sharpe": sr * math.sqrt(252),
        "sortino": mean / downside * math.sqrt(252),
        "volatility": sd * math.sqrt(252),
        "psr": psr(0.0),
        "dsr": psr(sr0),
        "min_trl": 1 + (1 - skew * sr + (kurt - 1) / 4 * sr**2) * (N.inv_cdf(0.95) / sr) ** 2,
        "skew": skew,
        "kurt": kurt,
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_metrics_agree_with_an_independent_implementation(seed: int) -> None:
    rng = random.Random(seed)
    # Skewed, fat-tailed daily returns with a small positive drift.
    returns = [0.0006 + 0.01 * rng.gauss(0, 1) + (0.03 if rng.random() < 0.02 else 0.0) for _ in range(300)]
    plain = _plain(returns, trials=6, variance=0.002)
    assert metrics.sharpe(returns) == pytest.approx(plain["sharpe"], rel=1e-9)
    assert metrics.sortino(returns) == pytest.approx(plain["sortino"], rel=1e-9)
    assert metrics.volatility(returns) == pytest.approx(plain["volatility"], rel=1e-9)
    assert sharpe_odds.probabilistic_sharpe(returns) == pytest.approx(plain["psr"], rel=1e-9)
    assert sharpe_odds.deflated_sharpe(returns, 6, 0.002) == pytest.approx(plain["dsr"], rel=1e-9)
    assert sharpe_odds.min_track_record(returns) == pytest.approx(plain["min_trl"], rel=1e-9)
    skew, kurt = sharpe_odds.moments(returns) or (None, None)
    assert skew == pytest.approx(scipy.stats.skew(returns), rel=1e-9)
    assert kurt == pytest.approx(scipy.stats.kurtosis(returns, fisher=False), rel=1e-9)


def test_min_track_record_is_the_length_at_which_psr_reaches_95_percent() -> None:
    rng = random.Random(5)
    returns = [0.001 + 0.01 * rng.gauss(0, 1) for _ in range(200)]
    sr = metrics.session_sharpe(returns)
    skew, kurt = sharpe_odds.moments(returns) or (0.0, 0.0)
    assert sr is not None and sr > 0
    length = sharpe_odds.min_track_record(returns)
    assert length is not None
    at_length = N.cdf(sr * math.sqrt(length - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2))
    assert at_length == pytest.approx(0.95)


def test_deflation_lowers_the_psr_and_more_trials_lower_it_further() -> None:
    rng = random.Random(9)
    returns = [0.001 + 0.01 * rng.gauss(0, 1) for _ in range(250)]
    psr = sharpe_odds.probabilistic_sharpe(returns)
    few, many = sharpe_odds.deflated_sharpe(returns, 3, 0.001), sharpe_odds.deflated_sharpe(returns, 100, 0.001)
    assert psr is not None and few is not None and many is not None
    assert many < few < psr
    assert sharpe_odds.deflated_sharpe(returns, 5, None) is None


# ---------------------------------------------------------------- bootstrap


def test_sharpe_interval_covers_the_true_sharpe_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(2024)
    mu, sigma, n, series = 0.0005, 0.01, 500, 200
    true_sharpe = mu / sigma * math.sqrt(252)
    covered = 0
    for _ in range(series):
        returns = (mu + sigma * rng.standard_normal(n)).tolist()
        interval = metrics.sharpe_interval(returns)
        assert interval.low is not None and interval.high is not None
        covered += interval.low <= true_sharpe <= interval.high
    # 200 series: the standard error of a 95% coverage is 1.5 points.
    assert 0.90 <= covered / series <= 0.99


def _coverage(interval_of, truth: float, n: int, series: int, seed: int) -> float:
    """The share of `series` iid normal series of n returns (mean 5 bps, sd 1%) whose interval holds `truth`."""
    rng = np.random.default_rng(seed)
    covered = 0
    for _ in range(series):
        interval = interval_of((0.0005 + 0.01 * rng.standard_normal(n)).tolist())
        assert interval.low is not None and interval.high is not None
        covered += interval.low <= truth <= interval.high
    return covered / series


def test_intervals_from_the_fewest_returns_shown_still_cover_95_percent() -> None:
    # The plain percentile interval of the stationary bootstrap is too narrow on short series: its resampled means
    # vary less than the mean does ((n-1)/n, and less again for blocks of a few sessions out of few), and it takes
    # normal quantiles where the spread is estimated from a handful of blocks. At the lengths the leaderboard first
    # shows an interval (20 daily returns; 8 paired weeks for --versus and discovery) its "95%" intervals held the
    # truth 84-87% of the time.
    from llmtrade.analytics.paired import MIN_WEEKS_FOR_INTERVAL

    shortest = metrics.MIN_RETURNS_FOR_INTERVAL
    flat = [0.0] * shortest
    sharpe = _coverage(metrics.sharpe_interval, 0.05 * math.sqrt(252), shortest, 300, 11)
    excess = _coverage(lambda r: metrics.excess_interval(r, flat), 0.0005 * 252, shortest, 300, 12)
    weeks = [
        _coverage(lambda r: metrics.paired_mean_interval(r, [0.0] * len(r), minimum=2), 0.0005, n, 300, 13 + n)
        for n in (MIN_WEEKS_FOR_INTERVAL, 12)
    ]
    # 300 series: the standard error of a 95% coverage is 1.3 points.
    for name, share in [("sharpe", sharpe), ("excess", excess), ("8 weeks", weeks[0]), ("12 weeks", weeks[1])]:
        assert 0.92 <= share <= 0.985, (name, share)


def test_intervals_are_the_same_for_the_same_returns_and_move_with_the_seed() -> None:
    rng = random.Random(3)
    returns = [0.0005 + 0.01 * rng.gauss(0, 1) for _ in range(120)]
    first, again = metrics.sharpe_interval(returns), metrics.sharpe_interval(list(returns))
    assert first == again
    metrics._indices.cache_clear()  # drawn afresh, as a new process would: the fixed seed gives the same draws
    assert metrics.sharpe_interval(returns) == first
    other = metrics.sharpe_interval(returns, seed=8)
    assert other.estimate == first.estimate and (other.low, other.high) != (first.low, first.high)
    assert first.low is not None and first.high is not None
    assert first.low < first.estimate < first.high


def test_excess_interval_resamples_both_series_by_session() -> None:
    rng = random.Random(4)
    market = [0.01 * rng.gauss(0, 1) for _ in range(100)]
    # The same market plus 4 bps a day: the excess is constant, so there is no uncertainty to bootstrap.
    ahead = [m + 0.0004 for m in market]
    exact = metrics.excess_interval(ahead, market)
    assert exact.estimate == pytest.approx(0.0004 * 252) and exact.low is None and exact.high is None
    noisy = [m + 0.0004 + 0.002 * rng.gauss(0, 1) for m in market]
    interval = metrics.excess_interval(noisy, market)
    assert interval.low is not None and interval.high is not None
    # Paired: the width comes from the 20 bps noise (about 4 standard errors of its annualised mean,
    # 0.2), not from the market's 100 bps swings (which would make it about 1.0).
    noise_width = 4 * 0.002 / math.sqrt(100) * 252
    assert 0.5 * noise_width < interval.high - interval.low < 1.5 * noise_width


def test_too_few_returns_give_an_estimate_without_an_interval() -> None:
    returns = [0.01, 0.02, 0.015, 0.011, 0.03]  # all up: a bootstrap would claim certainty
    interval = metrics.sharpe_interval(returns)
    assert interval.estimate is not None and interval.low is None and interval.high is None


# ---------------------------------------------------------------- degenerate inputs


@pytest.mark.parametrize("equity", [[], [100.0], [100.0, 100.0, 100.0, 100.0]], ids=["none", "one point", "flat"])
def test_degenerate_series_give_none_never_nan_inf_or_an_exception(equity: list[float]) -> None:
    returns = metrics.daily_returns(equity)
    values = [
        metrics.sharpe(returns),
        metrics.session_sharpe(returns),
        metrics.sortino(returns),
        sharpe_odds.probabilistic_sharpe(returns),
        sharpe_odds.deflated_sharpe(returns, 5, 0.01),
        sharpe_odds.min_track_record(returns),
        sharpe_odds.moments(returns),
    ]
    assert values == [None] * len(values)
    interval = metrics.sharpe_interval(returns)
    assert (interval.estimate, interval.low, interval.high) == (None, None, None)
    excess = metrics.excess_interval(returns, [0.0] * len(returns))
    assert excess.low is None and excess.high is None
    assert excess.estimate in (None, 0.0)


def test_one_return_has_a_total_and_cagr_but_no_spread() -> None:
    returns = metrics.daily_returns([100.0, 101.0])
    assert metrics.volatility(returns) is None and metrics.sharpe(returns) is None
    assert metrics.total_return([100.0, 101.0]) == pytest.approx(0.01)


def test_no_losing_session_has_no_sortino() -> None:
    assert metrics.sortino([0.01, 0.02, 0.0]) is None


def test_a_wiped_out_series_has_no_returns() -> None:
    with pytest.raises(ValueError, match="positive"):
        metrics.daily_returns([100.0, 0.0])
    assert metrics.cagr([100.0, 0.0]) is None


@pytest.mark.parametrize("q", [1e-9, 0.01, 0.05, 0.5, 0.9, 0.95, 1 - 1 / 6, 1 - 1 / (6 * math.e), 0.999999])
def test_normal_quantile_and_cdf_are_scipy_stats_norm_to_the_bit(q: float) -> None:
    # metrics uses scipy.special's ndtri / ndtr for the normal: they must be scipy.stats.norm's numbers.
    from scipy.special import ndtr, ndtri

    assert float(ndtri(q)) == float(scipy.stats.norm.ppf(q))
    x = float(scipy.stats.norm.ppf(q))
    assert float(ndtr(x)) == float(scipy.stats.norm.cdf(x))
