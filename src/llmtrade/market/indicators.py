"""Point-in-time indicators of one symbol, computed from the daily bars that exist at the as-of time.

Pure functions over plain floats: no I/O and no numpy, so the numbers are easy to check by hand
and the module costs nothing to import. The caller decides what "exists" means (only bars whose
session has closed, see TradingCalendar.last_completed_session); everything here uses the last
bar as "today" and never looks past it.
"""

from __future__ import annotations

import math
import operator
import statistics
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import date
from itertools import islice, pairwise

from llmtrade.domain.market import Bar, IndicatorSet
from llmtrade.errors import MarketDataError
from llmtrade.market import bar_steps

TRADING_DAYS_PER_YEAR = 252
_WILDER_PERIOD = 14
_CORRELATION_WINDOW = 60
# Sessions the longest indicator (the 200-day average) needs before it has a value: with fewer it is n/a.
LONGEST_WINDOW = 200


def compute_indicators(bars: Sequence[Bar], spy_bars: Sequence[Bar] | None = None) -> IndicatorSet:
    """Every indicator of the symbol in `bars` (one symbol, strictly ascending by day) as of its last bar.

    RSI and ATR use Wilder's smoothing from the first bar given, so they depend a little on how much
    history is passed; give at least a year when the values matter. The 52-week high is the highest
    high of the last 252 bars; with fewer, the drawdown from it is n/a (None): a "52-week" figure over 25 bars
    of a fund listed last month read as a year's (a trial). `spy_bars` feeds corr_spy_60 only.
    """
    if not bars:
        raise MarketDataError("no bars to compute indicators from")
    # Each bar's true range, gain and loss over the bar before it (and SPY's returns), kept from the day before:
    # the same numbers. Series checked as they are kept (a run of kept bars passed the check already).
    # Each field read once into plain lists (the closes kept with the steps): a checkpoint computes some 300 bars'
    # indicators per symbol a day, and reading a model's attributes in every formula was most of that.
    closes, true_ranges, gains, losses = bar_steps.steps(bars, _check_bars)
    if spy_bars:
        bar_steps.keep(spy_bars, _check_spy)
    last = bars[-1]
    sma_20 = _sma(closes, 20)
    sma_50 = _sma(closes, 50)
    sma_200 = _sma(closes, LONGEST_WINDOW)
    corr = _correlation_with_spy(bars, spy_bars) if spy_bars else None
    # A synthetic SPY series taints the correlation, and so the record, as much as a synthetic price does.
    synthetic = any(bar.synthetic for bar in bars) or (
        corr is not None and any(bar.synthetic for bar in spy_bars or ())
    )
    return IndicatorSet(
        symbol=last.symbol,
        asof_day=last.day,
        close=last.close,
        return_1w=_simple_return(closes, 5),
        return_4w=_simple_return(closes, 20),
        return_12w=_simple_return(closes, 60),
        sma_20=sma_20,
        sma_50=sma_50,
        sma_200=sma_200,
        price_vs_sma_20=_relative(last.close, sma_20),
        price_vs_sma_50=_relative(last.close, sma_50),
        price_vs_sma_200=_relative(last.close, sma_200),
        rsi_14=_rsi_of(gains, losses, _WILDER_PERIOD),
        atr_14=_wilder(true_ranges, _WILDER_PERIOD),
        realized_vol_20=_realized_vol(closes, 20),
        drawdown_from_52w_high=(
            last.close / max(map(_HIGH, bars[-TRADING_DAYS_PER_YEAR:])) - 1
            if len(bars) >= TRADING_DAYS_PER_YEAR
            else None
        ),
        corr_spy_60=corr,
        bars_used=len(bars),
        synthetic=synthetic,
    )


_SAME_BARS: OrderedDict[tuple[int, ...], tuple[Sequence[Bar], Sequence[Bar] | None, IndicatorSet]] = OrderedDict()
_SAME_BARS_KEPT = 64
_SAME_BARS_LOCK = threading.Lock()


def indicators_of(bars: Sequence[Bar], spy_bars: Sequence[Bar] | None = None) -> IndicatorSet:
    """`compute_indicators`, computed once for the same bar objects: a backtest's checkpoints ask for the
    same symbol's same sessions (one in-memory bar cache, so the very same frozen Bars) several times a day.

    Keyed by the identity of the first and last bar and the length of each series, the series themselves
    kept beside the answer (so no id is reused while its entry lives): bars are frozen, so the same objects
    give the same indicators. Bars read afresh (other objects) are simply computed again."""
    key = (id(bars[0]), id(bars[-1]), len(bars)) if bars else ()
    if spy_bars:
        key += (id(spy_bars[0]), id(spy_bars[-1]), len(spy_bars))
    with _SAME_BARS_LOCK:
        kept = _SAME_BARS.get(key) if key else None
        if kept is not None:
            _SAME_BARS.move_to_end(key)
            return kept[2]
    computed = compute_indicators(bars, spy_bars)
    with _SAME_BARS_LOCK:
        _SAME_BARS[key] = (bars, spy_bars, computed)
        if len(_SAME_BARS) > _SAME_BARS_KEPT:
            _SAME_BARS.popitem(last=False)
    return computed


_SYMBOL = operator.attrgetter("symbol")
_HIGH = operator.attrgetter("high")
_DAY = operator.attrgetter("day")


def _check_series(bars: Sequence[Bar], name: str) -> None:
    # Mixed symbols or out-of-order days would give plausible-looking wrong numbers, so refuse them loudly.
    if not bars:
        raise MarketDataError(f"no {name} to compute indicators from")
    symbols = set(map(_SYMBOL, bars))
    if len(symbols) > 1:
        raise MarketDataError(f"{name} mix symbols {sorted(symbols)}; indicators need one symbol")
    days = list(map(_DAY, bars))
    if all(map(operator.lt, days, islice(days, 1, None))):
        return  # the usual case, checked in C; the loop below names the first day out of order
    for before, after in pairwise(bars):
        if after.day <= before.day:
            raise MarketDataError(
                f"{name} for {after.symbol} are not strictly ascending by day: {before.day} is followed by {after.day}"
            )


def _check_bars(bars: Sequence[Bar]) -> None:
    _check_series(bars, "bars")


def _check_spy(bars: Sequence[Bar]) -> None:
    _check_series(bars, "spy_bars")


def _simple_return(closes: list[float], sessions: int) -> float | None:
    if len(closes) <= sessions:
        return None
    return closes[-1] / closes[-1 - sessions] - 1


def _sma(closes: list[float], window: int) -> float | None:
    return statistics.fmean(closes[-window:]) if len(closes) >= window else None


def _relative(close: float, reference: float | None) -> float | None:
    return None if reference is None else close / reference - 1


def _wilder(values: list[float], period: int) -> float | None:
    """Wilder's running average: a plain mean of the first `period` values, then (prev * (n-1) + x) / n."""
    if len(values) < period:
        return None
    average = statistics.fmean(values[:period])
    # The int operands as floats once, not converted at every step: the same doubles (a float times or over an
    # int is the float times or over its exact double), half the loop's time.
    kept, over = float(period - 1), float(period)
    for value in values[period:]:
        average = (average * kept + value) / over
    return average


def _rsi_of(gains: list[float], losses: list[float], period: int) -> float | None:
    average_gain = _wilder(gains, period)
    average_loss = _wilder(losses, period)
    if average_gain is None or average_loss is None:
        return None
    if average_loss == 0:
        return 100.0
    return 100 - 100 / (1 + average_gain / average_loss)


def _realized_vol(closes: list[float], window: int) -> float | None:
    if len(closes) <= window:
        return None
    recent = closes[-window - 1 :]
    log_returns = [math.log(after / before) for before, after in pairwise(recent)]
    return _stdev(log_returns) * math.sqrt(TRADING_DAYS_PER_YEAR)


# Bits the integer square root keeps beyond a double's: enough for round-to-odd to round correctly once.
_SQRT_BITS = 2 * sys.float_info.mant_dig + 3


def _stdev(values: list[float]) -> float:
    """`statistics.stdev(values)` to the bit, for two or more finite floats, in integers instead of Fractions.

    Both are the correctly rounded square root of the exact sample variance (statistics' own method: the
    variance summed exactly, then an integer square root rounded to odd), so they agree on every input;
    statistics builds a Fraction per sum, which was a quarter of an indicator set's time."""
    count = len(values)
    ratios = [value.as_integer_ratio() for value in values]
    # Every denominator is a power of two: bring all to the largest and sum the numerators exactly.
    shift = max(d for _, d in ratios).bit_length() - 1
    scaled = [n << (shift - d.bit_length() + 1) for n, d in ratios]
    total = sum(scaled)
    # Sample variance = (count * sum(x^2) - sum(x)^2) / (count * (count - 1) * 2^(2 * shift)), exactly.
    numerator = count * sum(x * x for x in scaled) - total * total
    denominator = count * (count - 1) << (2 * shift)
    common = math.gcd(numerator, denominator)
    return _sqrt_of_fraction(numerator // common, denominator // common)


def _sqrt_of_fraction(n: int, m: int) -> float:
    """sqrt(n / m) correctly rounded (n >= 0, m > 0): statistics' `_float_sqrt_of_frac`, the method of
    https://bugs.python.org/msg407078 (an integer square root with spare bits, rounded to odd)."""
    q = (n.bit_length() - m.bit_length() - _SQRT_BITS) // 2
    if q >= 0:
        return float(_isqrt_rounded_to_odd(n, m << 2 * q) << q)
    return _isqrt_rounded_to_odd(n << -2 * q, m) / (1 << -q)


def _isqrt_rounded_to_odd(n: int, m: int) -> int:
    root = math.isqrt(n // m)
    return root | (root * root * m != n)


def _common_returns(
    bars: Sequence[Bar], spy_bars: Sequence[Bar]
) -> tuple[dict[date, float], dict[date, float], list[date]]:
    """Both series' daily returns and the last window's days they share, ascending."""
    ours = bar_steps.daily_returns(bars)
    spy = bar_steps.daily_returns(spy_bars)
    # Aligning by date keeps a missing bar on either side from pairing Monday's move with Tuesday's.
    return ours, spy, sorted(ours.keys() & spy.keys())[-_CORRELATION_WINDOW:]


def _correlation_with_spy(bars: Sequence[Bar], spy_bars: Sequence[Bar]) -> float | None:
    # Both series' last window of returns on the same days (the usual case: one calendar, no bar missing), kept with
    # their steps (market/bar_steps.py): those days are then the last window's days both series share, as below.
    ours_kept = bar_steps.last_returns(bars, _CORRELATION_WINDOW)
    spy_kept = bar_steps.last_returns(spy_bars, _CORRELATION_WINDOW) if ours_kept is not None else None
    if ours_kept is not None and spy_kept is not None and ours_kept[0] == spy_kept[0]:
        return _correlation(ours_kept[1], spy_kept[1])
    # The last window's days come from the series' tails whenever the tails share enough of them: a day
    # both series hold after the earliest of those is in both tails too, and each tail's first bar (the
    # only one whose return the tail cannot give) is older than all of them. Else the whole series.
    tail = 2 * _CORRELATION_WINDOW
    ours, spy, common = _common_returns(bars[-tail:], spy_bars[-tail:])
    if len(common) < _CORRELATION_WINDOW and (len(bars) > tail or len(spy_bars) > tail):
        ours, spy, common = _common_returns(bars, spy_bars)
    if len(common) < _CORRELATION_WINDOW:
        return None
    return _correlation([ours[day] for day in common], [spy[day] for day in common])


def _correlation(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's correlation of two returns series of the same days, within [-1, 1]; None for a flat one."""
    if xs == ys:
        return 1.0  # exact, where the formula could round to 0.9999999999999999
    try:
        correlation = statistics.correlation(xs, ys)
    except statistics.StatisticsError:
        return None  # a flat series has no defined correlation
    return max(-1.0, min(1.0, correlation))
