"""A split a broker has applied before llmtrade recorded it, read from the broker's own position.

Alpaca (like every broker) splits a position itself, before the ex-day's open: the quantity times the split's ratio,
the average entry price divided by it, the cost basis unchanged (DriveWealth's `positions.updated` with
`updateReason: STOCK_SPLIT` shows the same: openQty x2, avgPrice /2, costBasis kept). A checkpoint before that open
still reads the old close, so the market finds no split yet (market/splits.py: a restated history, or the ex-day's
first price at a split's factor) and reconciliation saw the broker's 40 shares against the books' 10: a quantity
mismatch, and it managed only the 10 (an EXIT would have sold a quarter).

Here a mismatch whose quantity and average price both moved by one announced split's factor, the cost unchanged, is
that split: the books are read through it (`Reconciliation.splits`) and the write path records it as a SplitDetected
(`split_record`), so every fold applies it as one found in prices. Anything else (shares added or sold by hand, at
another price) is still a mismatch. Alpaca's corporate-actions API would say the same with one more call, key and
failure mode; the position is already read at every look.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from fractions import Fraction
from math import trunc

from llmtrade.domain.ledger import Split, fold, signed_qty, with_splits
from llmtrade.domain.market import SplitDetected
from llmtrade.domain.reconciliation import Difference
from llmtrade.domain.trading import Fill, Position
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.market.splits import RATIOS, TOLERANCE

# A split seen at the broker is not recorded yet: read through, it comes after every fill and adoption on record.
PENDING = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SplitSeen:
    """A split the broker's position shows against llmtrade's books (`seen_in`)."""

    symbol: str
    ratio: Fraction
    broker_qty: int
    broker_avg: float
    books_qty: int
    books_avg: float
    last_change: date  # the New York date of the books' last fill or adoption of the symbol: the split came after it
    # The first of the books' fills in the shares after the split (`mixed_in`): the split came before it. None: none.
    before: datetime | None = None
    bought_after: int = 0  # the shares those fills added

    def looks_like(self) -> str:
        return f"{self.ratio.numerator}-for-{self.ratio.denominator}"

    def pending(self, price: float) -> Split:
        return Split(self.symbol, self.before or PENDING, self.ratio, price)


def seen_in(
    differences: Sequence[Difference],
    positions: Mapping[str, Position],
    books_avg: Mapping[str, float],
    last_change: Mapping[str, date],
) -> list[SplitSeen]:
    """The quantity mismatches that are one split at the broker: its average price at the books' divided by one
    announced split's ratio (within providers' rounding, `market.splits.TOLERANCE`), its shares the books' times that
    ratio in whole shares (a fraction paid in cash, or kept as a fraction llmtrade does not trade), same side.
    `books_avg`: the books' average cost per symbol (of the mismatches, at least)."""
    found: list[SplitSeen] = []
    for d in differences:
        position, avg, since = positions.get(d.symbol), books_avg.get(d.symbol), last_change.get(d.symbol)
        if d.kind != "quantity_mismatch" or position is None or not avg or since is None:
            continue
        if (d.broker_qty > 0) != (d.ledger_qty > 0):
            continue
        ratio = _ratio(avg / position.avg_price)
        if ratio is None or trunc(d.ledger_qty * ratio) != d.broker_qty:
            continue
        found.append(SplitSeen(d.symbol, ratio, d.broker_qty, position.avg_price, d.ledger_qty, avg, since))
    return found


def mixed_in(
    differences: Sequence[Difference],
    positions: Mapping[str, Position],
    own: Sequence[Fill],
    splits: Sequence[Split],
    adopted: set[str],
) -> list[SplitSeen]:
    """The quantity mismatches that are one split at the broker with the books' fills after it in the new shares: an
    order filled at the ex-day's open with no look before it (Alpaca: 10 held split to 40, 10 more bought at the new
    price, 50 held where the books hold 20). For a symbol of llmtrade's own fills only (no shares adopted by hand),
    the split is put before one of its fills on a later day than the fill before it, priced nearer the fill before
    it divided by one announced split's ratio than that fill's price (in the new shares): the shares before times the
    ratio (whole shares), plus those the later fills added (all adding to the position), are the broker's, and the
    broker's cost (its shares at its average price) is the books' within providers' rounding. A split after all the
    fills (`seen_in`) has its later fills at the old level."""
    found: list[SplitSeen] = []
    for d in differences:
        position = positions.get(d.symbol)
        fills = [f for f in own if f.symbol == d.symbol]
        if d.kind != "quantity_mismatch" or position is None or d.symbol in adopted or len(fills) < 2:
            continue
        seen = _mixed(d, position, fills, splits)
        if seen is not None:
            found.append(seen)
    return found


def _mixed(d: Difference, position: Position, fills: Sequence[Fill], splits: Sequence[Split]) -> SplitSeen | None:
    cost = d.broker_qty * position.avg_price
    for k in range(1, len(fills)):
        if new_york_date(fills[k].filled_at) <= new_york_date(fills[k - 1].filled_at):
            continue
        held = fold(with_splits(fills[:k], splits), 0.0).positions.get(d.symbol)
        later = [signed_qty(f) for f in fills[k:]]
        if held is None or not held.qty or any((q > 0) != (held.qty > 0) for q in later):
            continue
        books = held.qty * held.avg_price + sum(q * f.price for q, f in zip(later, fills[k:], strict=True))
        if not cost or abs(math.log(abs(books / cost))) > TOLERANCE:
            continue
        level = fills[k].price / fills[k - 1].price  # the first later fill's price against the last before it
        for ratio in RATIOS:
            new_level = abs(math.log(level * float(ratio))) < abs(math.log(level))
            if new_level and trunc(held.qty * ratio) + sum(later) == d.broker_qty:
                day = new_york_date(fills[k - 1].filled_at)
                seen = SplitSeen(d.symbol, ratio, d.broker_qty, position.avg_price, held.qty, held.avg_price, day)
                return replace(seen, before=fills[k].filled_at, bought_after=sum(later))
    return None


def _ratio(q: float) -> Fraction | None:
    best = min(RATIOS, key=lambda r: abs(math.log(q / float(r))))
    return best if abs(math.log(q / float(best))) <= TOLERANCE else None


def split_record(
    seen: SplitSeen, broker: str, account_id: str, now: datetime, price: float | None, since: date | None = None
) -> SplitDetected:
    """The SplitDetected of a split seen at `broker` at `now`. The position says only that the split came after the
    books' last change of the symbol and by the session the broker split for (today's before its close, as Alpaca
    splits before the open; else the next: a broker splits the evening before, or on a weekend for Monday). So its
    ex-day is the first session after the last change (`seen.last_change`, or `since`: a later fill of the symbol in
    another account, or a split recorded before), and `latest` the session the broker split for: with no fill between,
    any day of that window gives the books the same shares, and the market's own finding of the split (its
    restatement's ex-day, in the window) is known and not recorded again (market/splits.py `known`). Before, the ex-day
    was the session at `now`: seen after Thursday's close for Friday's split, it was Thursday, and the market's Friday
    was recorded too (the shares multiplied twice). `price`: the symbol's price now, if any: taken after the split
    when it is nearer the broker's new average than the old price is (the fraction's cash in lieu)."""
    calendar = TradingCalendar()
    today = new_york_date(now)
    open_today = calendar.is_session(today) and now < calendar.session_close(today)
    split_for = today if open_today else calendar.next_session(today)
    ex_day = calendar.next_session(max(seen.last_change, since or seen.last_change))
    latest = max(ex_day, split_for)
    if seen.before is not None:  # a fill in the new shares: the split came by its day
        latest = min(latest, new_york_date(seen.before))
    ratio = float(seen.ratio)
    if price is None:
        price = seen.broker_avg
    elif abs(math.log(price / ratio / seen.broker_avg)) < abs(math.log(price / seen.broker_avg)):
        price = price / ratio  # the old close still: before the open
    cost = abs(seen.books_qty) * seen.books_avg
    evidence = (
        f"{account_id}'s position at {broker}: {seen.broker_qty} at {seen.broker_avg:.2f} where llmtrade's records "
        f"hold {seen.books_qty} at {seen.books_avg:.2f} (the same cost, {cost:,.2f})"
    )
    if seen.before is not None:
        evidence += f", and {seen.bought_after} filled from {new_york_date(seen.before)} on in the new shares"
    return SplitDetected(
        symbol=seen.symbol,
        ex_day=ex_day,
        ratio=ratio,
        looks_like=seen.looks_like(),
        price=round(price, 4),
        provider=f"{broker} positions",
        evidence=evidence,
        latest=latest if latest > ex_day else None,
    )


def in_new_shares(
    prices: Mapping[str, float], splits: Sequence[Split], after: date, until: datetime
) -> dict[str, float]:
    """`prices` (of session `after` or before) with each still in the shares before a recorded split put in the
    shares after it: a split that may have come after `after` (its ex-day, or its `latest`) and by `until`, the price
    nearer the split's price times its ratio (the old shares' scale) than the split's price (a price read after the
    split, or restated).
    A split the broker applied before the open is recorded (`split_record`) while the run's prices are still the
    last close: 40 shares held at 150 sized, valued or judged at 600 are four times what they are."""
    moved: dict[str, float] = {}
    for split in splits:
        price = moved.get(split.symbol, prices.get(split.symbol))
        if price is None or not after < (split.latest or split.at.date()) or split.at > until:
            continue
        old = split.price * float(split.ratio)
        if abs(math.log(price / old)) < abs(math.log(price / split.price)):
            moved[split.symbol] = price / float(split.ratio)
    return {**prices, **moved}
