"""A last close too old to size an open or an add off: a symbol its feed saw no trade of for sessions.

A quiet symbol (a thin name with no trade on IEX, a halt) is priced at its last close up to market/untraded.py
QUIET_TAIL (10) sessions old, in the weekly snapshot the PMs see and the gate sizes from. An open or an add sized off
it is sized off a price nobody traded at for that long, and sent to a market the feed saw no trade in: the order fills
at whatever the next trade is. Pure code, like the gate: closing or cutting needs no size, so it goes through; an open,
an add or a side change's opening leg is refused, said in the verdict (RiskChecked) as the gate's other rules are.
"""

from __future__ import annotations

from collections.abc import Mapping

from llmtrade.domain.market import PriceAge
from llmtrade.domain.research import MarketSnapshot
from llmtrade.domain.trading import RiskVerdict
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
