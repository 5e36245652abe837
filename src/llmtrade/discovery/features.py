"""What the pickers see of each candidate as of a session: price, liquidity, spread, volatility, momentum.

The spread is the Corwin-Schultz (2012) high-low estimator: over two consecutive sessions the
high/low range holds both the volatility and the bid-ask spread, but volatility grows with the
window and the spread does not, so comparing the two-day range with the two one-day ranges isolates
the spread. Negative estimates (the range was all volatility) count as 0; the estimate is averaged
over the last 20 session pairs. It needs only daily bars, which every provider has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise

from llmtrade.domain.discovery import CandidateFeatures
from llmtrade.domain.market import Bar

WINDOW = 20  # sessions for volume, spread and volatility
MOMENTUM_SESSIONS = 60  # about three months
MIN_SESSIONS = MOMENTUM_SESSIONS + 1
_K = 3 - 2 * math.sqrt(2)


def corwin_schultz(first: Bar, second: Bar) -> float:
    """The spread estimate (a fraction of price) from two consecutive sessions' highs and lows; >= 0."""
    return _corwin_schultz(first.high, first.low, second.high, second.low)


# A week's features read the last 20 session pairs of some hundred candidates, 15 of them the week before's:
# each pair's estimate is computed once (a pure function of four prices).
@lru_cache(maxsize=1 << 14)
def _corwin_schultz(high_1: float, low_1: float, high_2: float, low_2: float) -> float:
    beta = math.log(high_1 / low_1) ** 2 + math.log(high_2 / low_2) ** 2
    gamma = math.log(max(high_1, high_2) / min(low_1, low_2)) ** 2
    alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / _K - math.sqrt(gamma / _K)
    spread = 2 * (math.exp(alpha) - 1) / (1 + math.exp(alpha))
    return max(spread, 0.0)


def features(
    symbol: str, bars: Sequence[Bar], *, asset_class: str, name: str = "", sector: str = ""
) -> CandidateFeatures | None:
    """The candidate's features from its bars (oldest first, ending at the as-of session), or None
    when it has fewer than MIN_SESSIONS bars (too new to judge: not a candidate this time)."""
    if len(bars) < MIN_SESSIONS:
        return None
    # The last WINDOW session pairs, read once into plain lists: a backtest judges some hundred candidates a
    # week, and each attribute read and per-pair call showed (same sums in the same order, so the same bits).
    window = bars[-WINDOW - 1 :]
    closes = [b.close for b in window]
    highs = [b.high for b in window]
    lows = [b.low for b in window]
    log = math.log
    returns = [log(after / before) for before, after in pairwise(closes)]
    mean = sum(returns) / WINDOW
    variance = sum([(r - mean) ** 2 for r in returns]) / (WINDOW - 1)
    spread = sum(map(_corwin_schultz, highs, lows, highs[1:], lows[1:])) / WINDOW
    return CandidateFeatures(
        symbol=symbol,
        name=name,
        asset_class=asset_class,
        sector=sector,
        sessions=len(bars),
        price=closes[-1],
        avg_volume=sum([b.volume for b in window[1:]]) / WINDOW,
        spread=spread,
        volatility=math.sqrt(variance * 252),
        momentum=closes[-1] / bars[-1 - MOMENTUM_SESSIONS].close - 1,
    )
