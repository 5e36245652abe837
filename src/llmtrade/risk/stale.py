"""A last close too old to size an open or an add off: a symbol its feed saw no trade of for sessions.

A quiet symbol (a thin name with no trade on IEX, a halt) is priced at its last close up to market/untraded.py
QUIET_TAIL (10) sessions old, in the weekly snapshot the PMs see and the gate sizes from. An open or an add sized off
it is sized off a price nobody traded at for that long, and sent to a market the feed saw no trade in: the order fills
at whatever the next trade is. Pure code, like the gate: closing or cutting needs no size, so it goes through; an open,
an add or a side change's opening leg is refused, said in the verdict (RiskChecked) as the gate's other rules are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from llmtrade.domain.market import PriceAge
from llmtrade.domain.research import MarketSnapshot
from llmtrade.domain.trading import AccountSnapshot, Position, RiskAdjustment, RiskVerdict
from llmtrade.market.snapshot import price_age
from llmtrade.risk.halt import cut_to_reducing, reducing_target

STALE_PRICE = "stale_price"

# How many sessions old a last close may be and still size an open or an add. Two: a thin name's quiet Thursday and
# Friday on IEX (the common case: its Wednesday close is still the week's price, and what the PM saw), or a one- or
# two-day halt, trade as before. Three or more is most of a week without a trade on the feed the order would fill
# from: the close no longer says what the order buys, and a name that quiet is no position to open off a weekly pitch.
STALE_AFTER = 2


def stale(age: PriceAge | None) -> bool:
    """Whether `age` (of the price an intent is sized at) is past STALE_AFTER."""
    return age is not None and age.sessions > STALE_AFTER


def stale_closes(snapshot: MarketSnapshot) -> list[tuple[str, float, PriceAge]]:
    """Each symbol of `snapshot` whose close is too old to size an open or an add off (a quiet symbol: no trade of it on
    its feed since), with that close and its age, by symbol: prompts/_snapshot.j2 says so under the table, so no model
    argues from it as from the last session's. None of a snapshot of fresh closes: the table as it was."""
    ages = ((symbol, ind.close, price_age(snapshot, symbol)) for symbol, ind in sorted(snapshot.indicators.items()))
    return [(symbol, close, age) for symbol, close, age in ages if age is not None and stale(age)]


def cut_to_stale(free: RiskVerdict, current: int, age: PriceAge, price: float) -> RiskVerdict:
    """`free` (the verdict at `price`) cut to what only reduces the position held, `current` signed shares: a close, a
    cut, or the position kept; from flat, refused. A halted account's shadow trade is cut alike."""
    why = (
        f"{age.symbol}'s last close {price:.2f} is of {age.day}, {age.sessions} sessions before the last one "
        f"({age.session}), with no trade of it on the feed since (a thin name, a halt): no open or add is sized off a "
        f"close more than {STALE_AFTER} sessions old"
    )
    return _cut(free, current, why)


def cut_to_stale_held(
    free: RiskVerdict, current: int, ages: Mapping[str, PriceAge], prices: Mapping[str, float]
) -> RiskVerdict:
    """`free` cut as `cut_to_stale` cuts it, when the account it was sized from is valued at other symbols' last closes
    too old (`ages`, by symbol): a week's roll sells them at those closes (workflows/roll_sizing.py `after_roll`), and
    that money is what the trade is sized from, though the sale fills at whatever the next trade of them is."""
    closes = ", ".join(
        f"{s}'s last close {prices.get(s, float('nan')):.2f} of {a.day}, {a.sessions} sessions before the last one "
        f"({a.session})"
        for s, a in sorted(ages.items())
    )
    why = (
        f"the account is sized as if its roll sold at {closes}, with no trade of it on the feed since (a thin name, a "
        f"halt): no open or add is sized off a close more than {STALE_AFTER} sessions old"
    )
    return _cut(free, current, why)


def _cut(free: RiskVerdict, current: int, why: str) -> RiskVerdict:
    allowed = reducing_target(current, free.target_qty)
    shadow = None if free.shadow_qty is None else reducing_target(current, free.shadow_qty)
    if allowed == free.target_qty:
        return free if shadow == free.shadow_qty else free.model_copy(update={"shadow_qty": shadow})
    done = f"held at {current:+d}, not added to" if allowed == current else f"{current:+d} -> {allowed:+d} only"
    return cut_to_reducing(
        free,
        current,
        allowed,
        rule=STALE_PRICE,
        shadow=shadow,
        refused=f"{STALE_PRICE}: {why}: may not open {free.target_qty:+d}; position unchanged at 0",
        detail=f"{why}; {current:+d} -> {allowed:+d}, not {free.target_qty:+d}",
        reason=f"{STALE_PRICE}: {why}: {done} (wanted {free.target_qty:+d})",
    )


class StaleMarks:
    """The account's other positions valued at a last close more than STALE_AFTER sessions old (a quiet symbol's), as
    the limits that value the whole account (equity, the asset-class limit) count them: a mark nobody traded at for
    that long says neither what the position is worth nor what its sale would bring. Counted the careful way: each
    one's gain over its cost is left out of equity (a stale high mark would lend every budget money that may not be
    there), and its exposure is its shares at the larger of mark and cost (a stale low mark would make room in its
    class that may not be there). A mark of the last two sessions counts as it did.

    So are its positions without a mark in `prices` whose prices ended (`ended`: each one's last close, by symbol), a
    close nobody will trade at again (a week's roll keeps them unsold; a checkpoint holds them beside its trade): its
    exposure at the larger of cost and last close (at its cost alone, a last close above it made room in its class
    that may not be there), and, where `account` counts it at cost (`at_cost`), its equity at the lower (a loss to its
    last close left in, as workflows/roll_sizing.py `after_roll` sizes a week)."""

    def __init__(
        self,
        account: AccountSnapshot,
        symbol: str,
        prices: Mapping[str, float],
        ages: Mapping[str, PriceAge] | None,
        ended: Mapping[str, float] | None = None,
    ) -> None:
        self.marks: dict[str, tuple[Position, float, PriceAge]] = {}
        self.ended: dict[str, tuple[Position, float]] = {}
        self.at_cost = set(account.at_cost)
        for other, close in (ended or {}).items():
            position = account.positions.get(other)
            if other == symbol or other in prices or position is None or not position.qty:
                continue
            lost = (close - position.avg_price) * position.qty < 0 and other in account.at_cost
            if (close > position.avg_price or lost) and close > 0 and math.isfinite(close):
                self.ended[other] = (position, close)
        for other, age in (ages or {}).items():
            position = account.positions.get(other)
            mark = prices.get(other)
            if other == symbol or position is None or not position.qty or mark is None or not stale(age):
                continue
            if mark > 0 and math.isfinite(mark):
                self.marks[other] = (position, mark, age)

    def __bool__(self) -> bool:
        return bool(self.marks or self.ended)

    def gain(self) -> float:
        """What equity counts of the stale marks over their positions' cost, and of the cost of those at cost whose
        prices ended over their last close: left out of the equity the limits use."""
        lost = sum(max((p.avg_price - close) * p.qty, 0.0) for s, (p, close) in self.ended.items() if s in self.at_cost)
        return sum(max((mark - p.avg_price) * p.qty, 0.0) for p, mark, _ in self.marks.values()) + lost

    def floors(self, prices: Mapping[str, float]) -> dict[str, float]:
        """`prices` with each stale mark raised to its position's cost where that is higher: what the asset-class limit
        counts the position's exposure at (the gate reads `prices` for nothing else once it sizes)."""
        floors = {s: max(mark, p.avg_price) for s, (p, mark, _) in self.marks.items()}
        return {**prices, **floors, **{s: max(close, p.avg_price) for s, (p, close) in self.ended.items()}}

    def said(self) -> str:
        """Each stale mark, its day and age, and each last close of prices that ended, and how the limits counted it."""
        stale = [
            f"{s} ({p.qty:+d}) is marked at its last close {mark:.2f} of {a.day}, {a.sessions} sessions before the "
            f"last one ({a.session}), with no trade of it on the feed since: counted at cost {p.avg_price:.2f} where "
            "that is more careful (no gain on it in equity, its exposure at the larger of the two)"
            for s, (p, mark, a) in sorted(self.marks.items())
        ]
        ended = [
            f"{s} ({p.qty:+d}) is valued at its last close {close:.2f}, its prices ended: counted at the more careful "
            f"of it and its cost {p.avg_price:.2f} (its equity at the lower, its exposure at the larger)"
            for s, (p, close) in sorted(self.ended.items())
        ]
        return "; ".join([*stale, *ended])


def with_stale_marks(verdict: RiskVerdict, free: RiskVerdict, marks: StaleMarks) -> RiskVerdict:
    """`verdict` (sized with `marks` counted the careful way) said so: a RiskAdjustment from `free` (the verdict at the
    marks as they are) when the size differs, a note in the reason when it does not."""
    note = f"{STALE_PRICE}: {marks.said()}"
    if free.target_qty == verdict.target_qty or not verdict.approved:
        return verdict.model_copy(update={"reason": f"{verdict.reason}; {note}"})
    cut = RiskAdjustment(
        rule=STALE_PRICE,
        detail=f"{note}; {free.target_qty:+d} at the marks as they are -> {verdict.target_qty:+d}",
        before_qty=abs(free.target_qty),
        after_qty=abs(verdict.target_qty),
    )
    reason = f"{verdict.reason}; {note}: {verdict.target_qty:+d}, not {free.target_qty:+d}"
    return verdict.model_copy(update={"reason": reason, "adjustments": [*verdict.adjustments, cut]})
