"""What the pickers see of each candidate as of a session: price, liquidity, spread, volatility, momentum.

The spread is the Corwin-Schultz (2012) high-low estimator: over two consecutive sessions the
high/low range holds both the volatility and the bid-ask spread, but volatility grows with the
window and the spread does not, so comparing the two-day range with the two one-day ranges isolates
the spread. Negative estimates (the range was all volatility) count as 0; the estimate is averaged
over the last 20 session pairs. It needs only daily bars, which every provider has.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise

from llmtrade.domain.discovery import CandidateFeatures
from llmtrade.domain.market import Bar
from llmtrade.domain.records import assembled

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
    return _spread(
        math.log(high_1 / low_1) ** 2 + math.log(high_2 / low_2) ** 2,
        math.log(max(high_1, high_2) / min(low_1, low_2)) ** 2,
    )


def _spread(beta: float, gamma: float) -> float:
    """The estimate from beta (the two one-day ranges' squared logs, summed) and gamma (the two-day range's)."""
    sqrt = math.sqrt
    alpha = (sqrt(2 * beta) - sqrt(beta)) / _K - sqrt(gamma / _K)
    grown = math.exp(alpha)
    return max(2 * (grown - 1) / (1 + grown), 0.0)


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
    return _row(
        (symbol, name, asset_class, sector),
        len(bars),
        [log(after / before) for before, after in pairwise(closes)],
        list(map(_corwin_schultz, highs, lows, highs[1:], lows[1:])),
        [b.volume for b in window[1:]],
        closes[-1],
        bars[-1 - MOMENTUM_SESSIONS].close,
    )


class PairHistory:
    """One symbol's bars (oldest first) from index `first` on, with each consecutive pair's log return and
    spread estimate computed once: a backtest holding a symbol's whole history asks for its features at every
    week's session, and each pair would otherwise be worked out again for each of the WINDOW weeks it lies in."""

    def __init__(self, bars: Sequence[Bar], first: int = 0):
        tail = bars[first:]
        closes = [b.close for b in tail]
        highs = [b.high for b in tail]
        lows = [b.low for b in tail]
        log = math.log
        self.first = first
        self.closes = closes
        self.volumes = [b.volume for b in tail]
        # [i]: bars i and i + 1. Held as C doubles (the same values, 8 bytes each rather than a float object's 32: a
        # decade's backtest holds some 300k pairs).
        self.returns = array("d", [log(after / before) for before, after in pairwise(closes)])
        # _corwin_schultz's terms, each day's range taken once for the two pairs it is in (the same floats).
        ranges = [log(high / low) ** 2 for high, low in zip(highs, lows, strict=True)]
        self.spreads = array("d", _spreads(ranges, highs, lows))

    def features(
        self, lo: int, hi: int, symbol: str, *, asset_class: str, name: str = "", sector: str = ""
    ) -> CandidateFeatures | None:
        """`features(symbol, bars[lo:hi], ...)` (`lo` >= `first`), the same floats: the same values summed in the
        same order."""
        if hi - lo < MIN_SESSIONS:
            return None
        if lo < self.first:
            raise ValueError(f"bars from {lo} asked of a history held from {self.first}")
        hi -= self.first
        start = hi - WINDOW - 1  # the window's first bar: its pairs are start .. hi - 2
        return _row(
            (symbol, name, asset_class, sector),
            hi + self.first - lo,
            self.returns[start : hi - 1],
            self.spreads[start : hi - 1],
            self.volumes[start + 1 : hi],
            self.closes[hi - 1],
            self.closes[hi - 1 - MOMENTUM_SESSIONS],
        )


def _spreads(ranges: list[float], highs: list[float], lows: list[float]) -> list[float]:
    """`_spread` of each consecutive pair (beta: the two days' `ranges` summed; gamma: the two-day range's squared
    log), written out in one loop: the same operations on the same floats in the same order, so the same bits,
    without a call or two of max and min per pair (a decade's first discovery run works out some 290,000 pairs)."""
    log, sqrt, exp, k = math.log, math.sqrt, math.exp, _K
    out: list[float] = []
    pairs = zip(ranges, ranges[1:], highs, highs[1:], lows, lows[1:], strict=False)  # the shifted lists one shorter
    for beta_1, beta_2, high_1, high_2, low_1, low_2 in pairs:
        beta = beta_1 + beta_2
        # max(high_1, high_2) and min(low_1, low_2): the first argument unless the second is strictly beyond it.
        gamma = log((high_2 if high_2 > high_1 else high_1) / (low_2 if low_2 < low_1 else low_1)) ** 2
        grown = exp((sqrt(2 * beta) - sqrt(beta)) / k - sqrt(gamma / k))
        spread = 2 * (grown - 1) / (1 + grown)
        out.append(0.0 if spread < 0.0 else spread)  # max(spread, 0.0)
    return out


def _row(
    labels: tuple[str, str, str, str],
    sessions: int,
    returns: Sequence[float],
    spreads: Sequence[float],
    volumes: Sequence[float],
    price: float,
    then: float,
) -> CandidateFeatures:
    """The features from the window's WINDOW returns, spread estimates and volumes, the last close and the close
    MOMENTUM_SESSIONS sessions before it; `labels`: symbol, name, asset class, sector."""
    mean = sum(returns) / WINDOW
    variance = sum([(r - mean) ** 2 for r in returns]) / (WINDOW - 1)
    symbol, name, asset_class, sector = labels
    # Unvalidated: every value is a float or an int computed here from validated bars, the labels strings.
    return assembled(
        CandidateFeatures,
        {
            "symbol": symbol,
            "name": name,
            "asset_class": asset_class,
            "sector": sector,
            "sessions": sessions,
            "price": price,
            "avg_volume": sum(volumes) / WINDOW,
            "spread": sum(spreads) / WINDOW,
            "volatility": math.sqrt(variance * 252),
            "momentum": price / then - 1,
        },
        set(_FIELDS),
    )


_FIELDS = tuple(CandidateFeatures.model_fields)
