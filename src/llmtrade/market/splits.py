"""Splits found where a provider restates history (pure): the cached closes before a day all differ from the new
answer by one split's factor, the closes from that day on agree.

Alpaca's bars (adjustment=split) and Yahoo's Close are split-adjusted: after a split every bar before it is
restated, so the history a run fetches has no jump (market/jumps.py sees nothing) while the bars cached by an
earlier run stand at the old prices. Comparing the two, as the answer replaces the cache, is the one place a split
shows, and without it a paper account holding the stock keeps its pre-split shares at the post-split price: a 4-for-1
split reads as a 75% loss (the circuit breaker halts the account, the leaderboard books the trade at -75%).

A provider's correction (a bad print fixed, a few days revised) is not one factor on every day before one day and
none after: it is not a split, and nothing is recorded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from fractions import Fraction
from itertools import pairwise

from llmtrade.domain.market import Bar, SplitDetected
from llmtrade.domain.streams import SPLITS
from llmtrade.domain.trading import OrderFilled
from llmtrade.market.calendar import new_york_date
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.event_store import EventStore

# Shares after / shares before, as companies announce them: N-for-1, 1-for-N, and the few fractional ones.
_WHOLE = (2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30, 40, 50)
RATIOS = sorted(
    {Fraction(n) for n in _WHOLE}
    | {Fraction(1, n) for n in (*_WHOLE, 100)}
    | {Fraction(3, 2), Fraction(5, 4), Fraction(4, 3), Fraction(5, 2), Fraction(2, 3), Fraction(4, 5), Fraction(2, 5)}
)
# How far (in log terms, about 1%) a day's cached/new close may sit from the factor, or from 1 for a day that agrees:
# providers round restated prices (to a cent, or four decimals), which moves a cheap stock's ratio by a fraction of it.
TOLERANCE = 0.01
# How far an ex-day's open may sit from the split's factor times the close before it: the day's own gap (as
# market/jumps.py allows); only the splits no ordinary gap comes near (not 5-for-4: a 20% gap on earnings).
GAP_TOLERANCE = 0.05
_GAPS = [r for r in RATIOS if r >= Fraction(3, 2) or r <= Fraction(2, 3)]
# Days before the ex-day that must show the factor: one day alone is as likely a bad print corrected.
MIN_DAYS = 2


@dataclass(frozen=True)
class Restatement:
    """A split one symbol's new answer shows against its cached bars."""

    symbol: str
    ex_day: date
    ratio: Fraction
    price: float  # the ex-day's open in the new answer
    days: int  # cached days before the ex-day that showed the factor
    agreeing: int  # cached days from the ex-day on that agree
    first: date  # the first day compared
    latest: date | None  # when the ex-day is uncertain (no cached day from it on): the last it may be
    # The new answer itself jumps by the factor's inverse at the ex-day: the cache held the split adjusted and the
    # answer left it out (Yahoo at times drops a split from its history for days: ranaroussi/yfinance#906, #1531; a
    # fallback provider late with a split the first one restated). Not a split: the answer is unadjusted.
    undone: bool = False
    # The last day of the window a fill traded at the old price (`placed`): the split came after it.
    traded_before: date | None = None

    def looks_like(self) -> str:
        return f"{self.ratio.numerator}-for-{self.ratio.denominator}"


def restated(symbol: str, cached: Sequence[Bar], fresh: Sequence[Bar], next_session: date | None) -> Restatement | None:
    """The split `fresh` (a provider's new answer) shows against `cached` (the same symbol's bars cached before), or
    None: no overlap, nothing changed, or a change that is not one split's factor on every day before one day and
    none from it on. `next_session`: the session after the answer's range, the ex-day when the answer ends before
    the split (the ex-day's first price asks for the sessions before it)."""
    new = {b.day: b for b in fresh}
    overlap = [(b.day, b.close / new[b.day].close) for b in cached if b.day in new]
    overlap.sort()
    if len(overlap) < MIN_DAYS or _agrees(overlap[0][1]):
        return None
    ratio = _split_ratio(overlap[0][1])
    if ratio is None:
        return None
    k = 0
    while k < len(overlap) and _fits(overlap[k][1], ratio):
        k += 1
    if k < MIN_DAYS or not all(_agrees(q) for _, q in overlap[k:]):
        return None
    after = sorted(day for day in new if day > overlap[k - 1][0])
    if k < len(overlap):
        ex_day, latest = overlap[k][0], None
    elif after:
        # Every cached day shows the factor: the split came after the last of them, on a session the cache never held.
        ex_day, latest = after[0], (after[-1] if len(after) > 1 else None)
    else:
        # Restated up to the answer's end: the split takes effect at the next session; its open is not known yet, the
        # last restated close stands in for the cash paid in lieu of a fraction.
        last = max(new)
        return Restatement(symbol, next_session, ratio, new[last].close, k, 0, overlap[0][0], None)
    undone = _jumps(fresh, 1 / ratio, ex_day, latest or ex_day)
    return Restatement(symbol, ex_day, ratio, new[ex_day].open, k, len(overlap) - k, overlap[0][0], latest, undone)


def _jumps(bars: Sequence[Bar], factor: Fraction, first: date, last: date) -> bool:
    """Whether `bars` (a provider's answer) gap by `factor` (the close before / the open) at a session in first..last,
    as an unadjusted split of that factor does, within a split day's own move (`gap_factor`)."""
    ordered = sorted(bars, key=lambda b: b.day)
    return any(
        first <= bar.day <= last and abs(math.log(before.close / bar.open / float(factor))) <= GAP_TOLERANCE
        for before, bar in pairwise(ordered)
    )


# The fills recorded of a symbol from one day to another, as (New York day, price): `traded`.
Traded = Callable[[str, date, date], Iterable[tuple[date, float]]]


def placed(
    r: Restatement, fresh: Sequence[Bar], trades: Iterable[tuple[date, float]], next_session: date
) -> Restatement:
    """`r` with its uncertain ex-day decided by the trades in its window: a fill priced nearer the old level (`fresh`'s
    open of its day times the ratio) than the new traded before the split, one at the new level after it. Taken as
    the window's first day, the split came before a position bought that day at the old price, so the books never
    multiplied it (a 4-for-1 read as a 75% loss). A fill at the old price on the window's last day puts the split at
    the session after the answer, as an answer restated to its end does."""
    if r.latest is None or r.undone:
        return r
    new = {b.day: b for b in fresh}
    sides = [(d, _old_level(p / new[d].open, r.ratio)) for d, p in trades if r.ex_day <= d <= r.latest and d in new]
    old = max((d for d, was_old in sides if was_old), default=None)
    if old is None:
        first = r.ex_day
    elif old >= r.latest:
        return replace(r, ex_day=next_session, price=new[r.latest].close, agreeing=0, latest=None, traded_before=old)
    else:
        first = min(d for d in new if d > old)
    last = min((d for d, was_old in sides if not was_old and d >= first), default=r.latest)
    return replace(r, ex_day=first, price=new[first].open, latest=last if last > first else None, traded_before=old)


def _old_level(q: float, ratio: Fraction) -> bool:
    """Whether a price `q` times the new level sits nearer the old level (`ratio` times it) than the new."""
    return abs(math.log(q / float(ratio))) < abs(math.log(q))


def traded(events: EventStore, symbol: str, first: date, last: date) -> list[tuple[date, float]]:
    """The fills recorded of `symbol` (every account's) from `first` to `last`: the market service's `Recording.traded`.
    Read only when a split's day is uncertain (no run for some sessions)."""
    fills = (OrderFilled.from_event(e).fill for e in events.read(type=OrderFilled.event_type()))
    return [(d, f.price) for f in fills if f.symbol == symbol and first <= (d := new_york_date(f.filled_at)) <= last]


def restatements(
    cache: BarCache,
    bars: Mapping[str, Sequence[Bar]],
    start: date,
    end: date,
    next_session: date,
    synthetic: bool,
    trades: Traded | None = None,
    cached: Mapping[str, Sequence[Bar]] | None = None,
) -> tuple[list[Restatement], set[str]]:
    """The splits an answer of `bars` for start..end shows against what `cache` holds there (`restated`), and the
    symbols the caller keeps out of the cache, recording nothing for them: restated to the answer's end with the cache
    holding sessions after the range at the old prices (an old range, a postmortem's), so the split may be any day
    after it, and the next fetch of the recent sessions finds the whole history restated and places it; or answered
    with a split the cache holds adjusted left out (`Restatement.undone`), so the adjusted history stays cached and
    the provider's next adjusted answer agrees with it. `trades`: the fills placing an uncertain ex-day (`placed`).
    `cached`: what `cache` holds of `bars`' symbols in start..end, when the caller has read it already."""
    if cached is None:
        cached = cache.read(list(bars), start, end, synthetic=synthetic)
    later = cache.read(list(bars), end + timedelta(days=1), end + timedelta(days=31), synthetic=synthetic)
    found: list[Restatement] = []
    unplaced: set[str] = set()
    for symbol, series in bars.items():
        r = restated(symbol, cached.get(symbol, ()), series, next_session)
        if r is not None and r.latest is not None and trades is not None:
            r = placed(r, series, trades(symbol, r.ex_day, r.latest), next_session)
        if r is not None and (r.undone or (r.ex_day > end and later.get(symbol))):
            unplaced.add(symbol)
        elif r is not None:
            found.append(r)
    return found, unplaced


def _agrees(q: float) -> bool:
    return abs(math.log(q)) <= TOLERANCE


def _fits(q: float, ratio: Fraction) -> bool:
    return abs(math.log(q / float(ratio))) <= TOLERANCE


def _split_ratio(q: float) -> Fraction | None:
    """The announced split whose factor `q` (old close / restated close: the shares one became) is, if any."""
    best = min(RATIOS, key=lambda r: abs(math.log(q / float(r))))
    return best if _fits(q, best) else None


def gap_factor(q: float) -> Fraction | None:
    """The split a gap of `q` (the close before / the open after) looks like, within a split day's own move (5%, as
    market/jumps.py allows), or None."""
    x = math.log(q)
    # Asked of every price a checkpoint reads (the ex-day's check): an ordinary move is far from every split's factor.
    if abs(x) < _NO_GAP:
        return None
    at, best = min(_GAP_LOGS, key=lambda g: abs(x - g[0]))
    return best if abs(x - at) <= GAP_TOLERANCE else None


_GAP_LOGS = [(math.log(float(r)), r) for r in _GAPS]
# A gap smaller than this (in log terms) is within no split's tolerance: 3/2 and 2/3 are the factors nearest to 1.
_NO_GAP = min(abs(at) for at, _ in _GAP_LOGS) - GAP_TOLERANCE


def unrecorded_gap(cache: BarCache, bars: Sequence[Bar]) -> tuple[Bar, Bar, Fraction] | None:
    """A split `bars` (one symbol's newest sessions, as a read that records nothing got them) show against the books:
    (the last bar cached before their newest session, the first of `bars` after it, the split's ratio) when that bar
    opens at a split's factor from the cached close, or None. A run records such a split (`restated`, or the ex-day's
    check), and the cache then holds the history restated; until then a paper account holds the old shares, and a
    read values them at the new price."""
    if not bars:
        return None
    newest = bars[-1]
    cached = cache.read([newest.symbol], bars[0].day, newest.day - timedelta(days=1), synthetic=newest.synthetic)
    if not cached[newest.symbol]:
        return None
    last = cached[newest.symbol][-1]
    after = next((b for b in bars if b.day > last.day), None)
    ratio = gap_factor(last.close / after.open) if after is not None else None
    return (last, after, ratio) if after is not None and ratio is not None else None


def splits_before(events: EventStore) -> list[SplitDetected]:
    """The splits `events` holds (SplitDetected), oldest first: the market service's `Recording.splits_before`."""
    return [SplitDetected.from_event(e) for e in events.read(stream=SPLITS)]


def known(restatement: Restatement, recorded: Iterable[SplitDetected]) -> bool:
    """Whether `restatement` is a split recorded before, seen again: the same split of the symbol (same ratio) from the
    same or a later ex-day than the record's, or its `latest`. A range cached whole before the split and restated in
    part since (a checkpoint read its last ten sessions) shows the factor up to the start of that part, which agrees:
    the same split, seen earlier. A split read from a broker's position (brokers/split_positions.py) is recorded for
    the window it may have come in, from the session after the last fill of the symbol to the one the broker split
    for: a restatement in that window is that split (no fill between them: the same shares either way), not a second
    one (it would multiply the shares again)."""
    return any(
        s.symbol == restatement.symbol
        and s.looks_like == restatement.looks_like()
        and restatement.ex_day <= (s.latest or s.ex_day)
        for s in recorded
    )


def split_event(restatement: Restatement, provider: str) -> SplitDetected:
    """The record of a restatement found in `provider`'s answer."""
    r = restatement
    evidence = f"{r.days} cached closes from {r.first} on at {float(r.ratio):g}x the new answer" + (
        f", {r.agreeing} from {r.ex_day} on agreeing" if r.agreeing else ", none cached from the split on"
    )
    if r.traded_before is not None:
        evidence += f"; a fill on {r.traded_before} traded at the old price, so the split came after that day"
    return SplitDetected(
        symbol=r.symbol,
        ex_day=r.ex_day,
        ratio=float(r.ratio),
        looks_like=r.looks_like(),
        price=r.price,
        provider=provider,
        evidence=evidence,
        latest=r.latest,
    )


def split_warning(split: SplitDetected) -> str:
    """What a run says when it finds a split."""
    when = f"on {split.ex_day}"
    if split.latest is not None:
        when = f"between {split.ex_day} and {split.latest} (taken as {split.ex_day})"
    return (
        f"{split.symbol} split {split.looks_like} {when}: {split.provider} restated its history ({split.evidence}). "
        f"Paper positions held at that day's open are multiplied by {split.ratio:g} at a cost divided by it, "
        f"a fraction of a share paid in cash at {split.price:g}; an order queued before it for that open is canceled"
    )
