"""How likely a Sharpe ratio is skill, not luck (Bailey & Lopez de Prado): PSR, DSR and MinTRL (pure).

Contract: the conventions of analytics/metrics.py (per-session Sharpe = mean / sample sd, not annualised; skewness
and kurtosis the biased sample moments, kurtosis not excess); degenerate inputs (too few returns, zero variance)
give None, never NaN, inf or an exception. The normal distribution is the standard library's (normal.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from llmtrade.analytics.metrics import _TINY, LEVEL, _finite, session_sharpe
from llmtrade.analytics.normal import normal_cdf, normal_quantile

EULER_GAMMA = 0.5772156649015329


def moments(returns: Sequence[float]) -> tuple[float, float] | None:
    """(skewness, kurtosis) of the returns, biased sample moments, kurtosis not excess; None when n < 2
    or the variance is 0."""
    n = len(returns)
    if n < 2:
        return None
    mean = math.fsum(returns) / n
    m2 = math.fsum((r - mean) ** 2 for r in returns) / n
    if math.sqrt(m2) < _TINY:
        return None
    m3 = math.fsum((r - mean) ** 3 for r in returns) / n
    m4 = math.fsum((r - mean) ** 4 for r in returns) / n
    return m3 / m2**1.5, m4 / m2**2


def probabilistic_sharpe(returns: Sequence[float], benchmark: float = 0.0) -> float | None:
    """PSR (Bailey & Lopez de Prado 2012, "The Sharpe Ratio Efficient Frontier", J. of Risk 15(2), eq. 10):
    the probability that the true per-session Sharpe ratio exceeds `benchmark` (per session), given n
    returns, their skewness g3 and kurtosis g4:

        PSR = Phi( (SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2) )

    A probability in [0, 1]; None for degenerate inputs (n < 3, zero variance)."""
    sr = session_sharpe(returns)
    shape = moments(returns)
    if sr is None or shape is None or len(returns) < 3:
        return None
    skew, kurt = shape
    denominator = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if denominator <= 0:
        return None
    return _finite(normal_cdf((sr - benchmark) * math.sqrt(len(returns) - 1) / math.sqrt(denominator)))


def expected_max_sharpe(trials: int, variance: float) -> float:
    """The expected largest per-session Sharpe of `trials` strategies whose true Sharpe is 0, given the
    variance of their estimated per-session Sharpes (Bailey & Lopez de Prado 2014, "The Deflated Sharpe
    Ratio", J. of Portfolio Management 40(5), eq. 2; gamma is Euler-Mascheroni):

        SR0 = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))

    0.0 for a single trial (nothing was selected)."""
    if trials < 2 or variance <= 0:
        return 0.0
    spread = (1 - EULER_GAMMA) * normal_quantile(1 - 1 / trials) + EULER_GAMMA * normal_quantile(
        1 - 1 / (trials * math.e)
    )
    return math.sqrt(variance) * spread


def deflated_sharpe(returns: Sequence[float], trials: int, sharpe_variance: float | None) -> float | None:
    """DSR (Bailey & Lopez de Prado 2014): PSR against the Sharpe ratio the best of `trials` zero-skill
    strategies would show by luck (`expected_max_sharpe`). `sharpe_variance` is the variance of the
    trials' per-session Sharpe ratios. A probability; None when degenerate, or the variance is unknown for N > 1. One
    trial is no selection: its DSR is its PSR, whatever the variance (which one trial cannot give)."""
    if trials == 1:
        return probabilistic_sharpe(returns)
    if sharpe_variance is None or trials < 1:
        return None
    return probabilistic_sharpe(returns, expected_max_sharpe(trials, sharpe_variance))


def min_track_record(returns: Sequence[float], *, level: float = LEVEL) -> float | None:
    """Minimum track record length (Bailey & Lopez de Prado 2012, eq. 11) to tell the account from FLAT
    (Sharpe 0) at `level`, one-sided in the direction of its Sharpe, in sessions:

        MinTRL = 1 + (1 - g3 SR + (g4 - 1) / 4 SR^2) (Phi^-1(level) / SR)^2

    None when the Sharpe is undefined or exactly 0 (no length would do) or the inputs are degenerate."""
    sr = session_sharpe(returns)
    shape = moments(returns)
    if sr is None or shape is None or abs(sr) < _TINY:
        return None
    skew, kurt = shape
    signed = abs(sr)
    # A negative Sharpe is told from FLAT the same way, with the skew read in its direction.
    skew = skew if sr > 0 else -skew
    factor = 1.0 - skew * signed + (kurt - 1.0) / 4.0 * signed * signed
    if factor <= 0:
        return None
    return _finite(1.0 + factor * (normal_quantile(level) / signed) ** 2)
