"""Price jumps that look like an unadjusted split (pure): a close-to-close ratio near a split's simple fraction,
with the open gapped by the same fraction.

A file of unadjusted prices (a broker's export, Stooq's raw series, Alpha Vantage's TIME_SERIES_DAILY; Yahoo's
"Close" is split-adjusted, its raw feed is not) shows a 4-for-1 split as a close at a quarter of the day before:
every return across that day then reads -75%, and a backtest holding it books a loss that never happened. A
split moves the whole session, so the open gaps as the close does and the day's own move is ordinary; a
fall during the day (a crash that grew) does not match. A real collapse can still match (an ETF losing half
overnight and holding there), so this finds what to look at, and the caller says so: it does not refuse.

A one-day spike is the other kind: a close at least twice (or half) the one before and back within 15% of it the
next session, as a bad row leaves (a misplaced decimal, one day of another symbol's prices). Every return across
it is wrong twice; a real market does not halve and recover overnight. Said the same way.

The last bar of a series cannot be told apart yet: a close at twice or half the one before may be a spike whose way
back is tomorrow's bar, or a split the feed delivered unadjusted (Yahoo sometimes applies a split late, or not to
every bar before it). `last_suspect` names it, so a live run does not size a trade off that price (risk/gate.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from itertools import pairwise

from llmtrade.domain.market import SPIKE, UNCONFIRMED, Bar, PriceJumpFlagged, jump_named

# The ratios a split or reverse split leaves in unadjusted prices: N-for-1 (1/N), 1-for-N (N), 3-for-2 (2/3).
_SPLITS = sorted(
    {Fraction(1, n) for n in (2, 3, 4, 5, 8, 10, 20)}
    | {Fraction(n) for n in (2, 3, 4, 5, 8, 10, 20)}
    | {Fraction(2, 3), Fraction(3, 2)}
)
# How far (in log terms, about 5%) the close and the open may sit from the fraction: a split day's own move.
TOLERANCE = 0.05
# A spike: a close this many times (or this fraction of) the one before, back within `_BACK` of it the next session.
_SPIKE = math.log(2)
_BACK = math.log(1.15)
# A close-to-close ratio strictly between these has |log| below 0.288: short of `_nearest`'s log(1.4) (0.336) and of a
# spike's log(2) by far more than any rounding, so an ordinary day is told apart without computing a logarithm.
_ORDINARY_LOW, _ORDINARY_HIGH = 0.75, 1.3


@dataclass(frozen=True)
class Jump:
    """A session whose close is `ratio` times the previous close, and whose open is `open_ratio` times it: both near
    `split` (the close after an N-for-1 split is 1/N of the one before); `split` None: a one-day spike, back the
    next session."""

    symbol: str
    day: date
    before: date
    ratio: float
    open_ratio: float
    split: Fraction | None
    # False: the series' last bar, whose next session is not known yet (`last_suspect`).
    confirmed: bool = True

    def looks_like(self) -> str:
        """The split this jump looks like, as a company announces it ('4-for-1', '1-for-8', '3-for-2'), SPIKE, or
        UNCONFIRMED (a last bar at twice or half the close before, not split-like: a spike or a real move). A last
        bar that is split-like has its split's name: `named` says that it is not confirmed."""
        if self.split is None:
            return SPIKE if self.confirmed else UNCONFIRMED
        return f"{self.split.denominator}-for-{self.split.numerator}"

    def named(self) -> str:
        """This jump said for what it is (domain/market.py `jump_named`)."""
        return jump_named(self.looks_like(), last_bar=not self.confirmed)


def flagged(symbol: str, bars: Sequence[Bar]) -> list[Jump]:
    """`suspect_moves` of `bars`, and their last bar when `last_suspect` (once, as unconfirmed: a split-like last bar
    is both)."""
    found = suspect_moves(symbol, bars)
    last = last_suspect(symbol, bars)
    if last is None:
        return found
    return [*(jump for jump in found if jump.day != last.day), last]


def jump_warning(jump: Jump, where: str) -> str:
    """What a run says when prices it fetched (from `where`: a file or a provider) hold `jump`."""
    seen = f"{jump.symbol} closes on {jump.day} at {jump.ratio:.3f}x its close of {jump.before} ({where})"
    opened = f" (opening at {jump.open_ratio:.3f}x)" if jump.split is not None else ""
    what = f"{opened}: {jump.named()}"
    held = (
        f"; until a later session follows it, the risk gate sizes no trade off that price: a position in {jump.symbol} "
        "is closed, kept, or halved by a checkpoint's REDUCE, never opened or added to, and an account holding it "
        "opens nothing else"
        if not jump.confirmed
        else ""
    )
    return (
        f"price jump: {seen}{what}. Returns and averages across that day count the move{held}; if the feed is "
        "wrong, check the symbol's prices at another source (recorded as PriceJumpFlagged)"
    )


def suspect_moves(symbol: str, bars: Sequence[Bar]) -> list[Jump]:
    """Every split-like jump and one-day spike of `bars` (oldest first), by day; neither a spike's day nor the
    next session's way back is also a split."""
    spiked = spikes(symbol, bars)
    days = {jump.day for jump in spiked}
    splits = [j for j in split_like(symbol, bars) if j.day not in days and j.before not in days]
    return sorted([*spiked, *splits], key=lambda j: j.day)


def last_suspect(symbol: str, bars: Sequence[Bar]) -> Jump | None:
    """The last bar of `bars` (oldest first) when its price cannot be trusted yet: a split-like jump, or a close at
    least twice (or at most half) the one before, which the next session may show to be a spike; None otherwise,
    and for the way back of a spike (the bar before it jumped, this one is back near the close before that)."""
    if len(bars) < 2:
        return None
    previous, bar = bars[-2], bars[-1]
    if len(bars) > 2 and _is_spike(bars[-3], previous, bar):
        return None
    ratio, opened = bar.close / previous.close, bar.open / previous.close
    split = _nearest(ratio)
    if split is not None and abs(math.log(opened / float(split))) < TOLERANCE:
        return Jump(symbol, bar.day, previous.day, ratio, opened, split, confirmed=False)
    if abs(math.log(ratio)) >= _SPIKE:
        return Jump(symbol, bar.day, previous.day, ratio, opened, None, confirmed=False)
    return None


def spikes(symbol: str, bars: Sequence[Bar]) -> list[Jump]:
    """Every session whose close is at least twice (or at most half) the one before and back within 15% of it at
    the next session's close: a bad row."""
    return [
        Jump(symbol, bar.day, previous.day, bar.close / previous.close, bar.open / previous.close, None)
        for previous, bar, after in zip(bars, bars[1:], bars[2:], strict=False)
        if _is_spike(previous, bar, after)
    ]


def _is_spike(previous: Bar, bar: Bar, after: Bar) -> bool:
    """Whether `bar` closes at least twice (or half) `previous`'s close and `after` is back within 15% of it."""
    ratio = bar.close / previous.close
    if _ORDINARY_LOW < ratio < _ORDINARY_HIGH:
        return False  # far from twice or half: the same verdict without a logarithm (nearly every day of a history)
    return abs(math.log(ratio)) >= _SPIKE and abs(math.log(after.close / previous.close)) < _BACK


def split_like(symbol: str, bars: Sequence[Bar]) -> list[Jump]:
    """Every session of `bars` (oldest first) whose close and open both jump from the previous close by about a
    split's fraction (`_SPLITS`, within `TOLERANCE` in log terms)."""
    found = []
    for previous, bar in pairwise(bars):
        ratio, opened = bar.close / previous.close, bar.open / previous.close
        split = _nearest(ratio)
        if split is not None and abs(math.log(opened / float(split))) < TOLERANCE:
            found.append(Jump(symbol, bar.day, previous.day, ratio, opened, split))
    return found


def _nearest(ratio: float) -> Fraction | None:
    """The split fraction `ratio` is within `TOLERANCE` of, or None (an ordinary day is far from all of them)."""
    if _ORDINARY_LOW < ratio < _ORDINARY_HIGH:
        return None  # inside the test below by a wide margin, without its logarithm (nearly every day of a history)
    if ratio <= 0 or abs(math.log(ratio)) < math.log(1.4):  # 2/3 and 3/2 are the nearest to 1 of `_SPLITS`
        return None
    best = min(_SPLITS, key=lambda f: abs(math.log(ratio / float(f))))
    return best if abs(math.log(ratio / float(best))) < TOLERANCE else None


def price_jump(jump: Jump, where: str | None) -> PriceJumpFlagged:
    """The event of one flagged jump (`where`: the file it was read from, if any)."""
    return PriceJumpFlagged(
        symbol=jump.symbol,
        day=jump.day,
        before=jump.before,
        ratio=round(jump.ratio, 6),
        open_ratio=round(jump.open_ratio, 6),
        looks_like=jump.looks_like(),
        where=where,
    )
