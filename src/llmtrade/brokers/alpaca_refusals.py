"""What to add to Alpaca's refusal of an order (brokers/alpaca.py `_post`): what is in its way, read from the account;
and whether the refusal lasts the week (`is_lasting`).

Alpaca's words name the rule, not the account's state: "insufficient qty available for order (requested: 10,
available: 5)" does not say whether an open order holds the shares or the account holds fewer than the order takes
(for an opening order, shares bought by hand, which llmtrade does not plan from; for a close, fewer than llmtrade's
books hold: shares sold by hand), and a 403 about the account does not say which flag is set.
Each read here is best effort: one that fails leaves the refusal as Alpaca gave it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from llmtrade.brokers.alpaca_orders import decimal
from llmtrade.brokers.alpaca_refusal_notes import (
    account_note,
    bare_refusal,
    crossing_note,
    held_qty_note,
    is_qty_held,
    is_wash_trade,
    named_orders,
    wash_trade_note,
)
from llmtrade.domain.trading import BrokerOrder, Order, Side
from llmtrade.errors import LlmtradeError
from llmtrade.market.alpaca_http import error_message, error_object

T = TypeVar("T")

# Alpaca's words for a refusal that sending the same order again this week does not change: the asset is not tradable
# (422, code 42210000: `asset "XYZ" is not tradable`, a delisted, halted or inactive asset), it may not be sold short
# (422, code 42210000: `asset "XYZ" cannot be sold short`, not shortable or not easy to borrow, for which Alpaca offers
# no locate to a Trading API account), or the account may not sell short (403, code 40310000: "account is not allowed
# to short": shorting disabled, or under 2,000 of equity; alpacahq/alpaca-trade-api-js #57). Each was resent at every
# checkpoint and rerun until the week ended, a degraded run and an alert each time (an audit). Matched in lower case.
_LASTING_WORDS = ("cannot be sold short", "not shortable", "not allowed to short")
# Lasting only for an order that opens a position: a close (or a resize, which may shrink one) refused so is sent again,
# as a halted asset's may pass later in the week, and giving up a close would leave the position held, unsaid, for days.
_NOT_TRADABLE = "not tradable"
# The statuses Alpaca sends them with. Any other refusal, and one in words not listed here, is resent as before:
# one that may pass later (buying power, shares held for an open order, a wash trade while an order is open, the
# pattern day trading protection) or one not known must never be dropped without a word.
_LASTING_STATUSES = frozenset({403, 422})
# A refusal for want of shares that no open order holds, the order carrying a holding llmtrade does not manage past zero
# (`crossing`: a fraction of a share, or shares bought by hand; `crossing_note`), lasts too, for an opening order:
# nothing llmtrade does removes that holding, only the user (in Alpaca's dashboard), so it was refused again at every
# rerun and checkpoint of the week, an alert each time. A close refused so is sent again, as for "not tradable".


def is_lasting(status: int, body: str, *, opens: bool, crossing: bool = False) -> bool:
    """Whether Alpaca's refusal (`status`, its error `body`) of an order will not change by sending the order again
    this week (`_LASTING_WORDS`; "not tradable", or for want of shares where the order is `crossing` a holding llmtrade
    does not manage, only when the order `opens` a position); False for every other refusal, those in words not known
    included."""
    detail = error_message(body)
    if status not in _LASTING_STATUSES or is_wash_trade(detail):
        return False  # an order in the way: it ends (checked first: its words may change)
    if is_qty_held(detail):
        return opens and crossing  # shares held for an open order (no crossing) are freed when it ends
    said = detail.lower()
    return any(words in said for words in _LASTING_WORDS) or (opens and _NOT_TRADABLE in said)


class RefusalNote(NamedTuple):
    """What `refusal_note` adds to a refusal (`text`, "" for nothing), and whether the refusal is for want of shares no
    open order holds, the order carrying a holding llmtrade does not manage past zero (`crossing`: `is_lasting`)."""

    text: str
    crossing: bool = False


def refusal_note(
    status: int,
    body: str,
    order: Order,
    *,
    open_orders: Callable[[], Sequence[BrokerOrder]],
    holdings: Callable[[], Mapping[str, float]],
    account: Callable[[], Any],
) -> RefusalNote:
    """For a potential wash trade (403, or 422 as some answers have it), or shares held for other orders (403
    "insufficient qty available"), the account's open orders in the way; for want of shares no order holds, the
    position the order would cross (`crossing_note`), for want of buying power what Alpaca's body says it compared and
    the open orders that hold it or have not freed it yet (`buying_power_note`), and for a 403 about the account
    (blocked, day trades, buying power without Alpaca's figures, shorting) what its account object says (`account`:
    Alpaca's raw account), both when both; "" for bad keys, another status or what cannot be read."""
    detail = error_message(body)
    if is_wash_trade(detail):
        return RefusalNote(wash_trade_note(order, listed) if (listed := _quietly(open_orders)) is not None else "")
    crossing, known = "", False
    if is_qty_held(detail):
        if (listed := _quietly(open_orders)) is not None and (held := held_qty_note(order, listed)):
            return RefusalNote(held)
        found = _quietly(holdings)
        shares = found.get(order.symbol) if found is not None else None
        crossing = crossing_note(order, shares) if shares is not None else ""
        # Lasting only when the open orders were read and none holds the shares: else an order may be in the way.
        known = bool(crossing) and listed is not None
    if status != 403 or bare_refusal(detail):
        return RefusalNote(crossing, known)
    if _BUYING_POWER in detail.lower() and (figures := _figures(body)) is not None:
        # Alpaca's own figures say what it compared; its account object's buying power alone named neither.
        return RefusalNote(buying_power_note(order, figures, _quietly(open_orders) or [], _quietly(holdings) or {}))
    found_account = _quietly(account)
    said = account_note(detail, found_account) if found_account is not None else ""
    return RefusalNote("; ".join(part for part in (crossing, said) if part), known)


# Alpaca's refusal of an order its buying power does not cover (403, code 40310000), with the figures it compared in
# its body: {"buying_power": "176531.28", "code": 40310000, "cost_basis": "48640000", "message": "insufficient buying
# power"} (alpacahq/alpaca-py #225).
_BUYING_POWER = "insufficient buying power"


def buying_power_note(
    order: Order, figures: tuple[float, float], listed: Sequence[BrokerOrder], held: Mapping[str, float]
) -> str:
    """What to make of Alpaca's refusal of `order` for buying power: `figures`, what Alpaca valued the order at and the
    buying power it had (its body's cost_basis and buying_power), which are not the order's shares at the price nor the
    account object's buying power. Alpaca checks a market order that opens or adds (a buy from flat or long, a sell from
    flat or short) at 102.5% to 104% of its value, and "available buying power is reduced by your existing open buy long
    and sell short orders", while "sell long and buy to cover orders do not replenish your available buying power until
    they are executed" (docs.alpaca.markets "Placing Orders"): `listed`, the account's open orders, name those holding
    it and the sales not yet filled; `held`: signed shares by symbol, what tells them apart. The weekly run queues its
    week before the open, so a rotation's buys meet its own sales unfilled."""
    cost, power = figures
    parts = [
        f"Alpaca valued this order at {cost:,.2f} against buying power of {power:,.2f} (it checks a market order that "
        "opens or adds at up to 104% of its value)"
    ]
    others = [o for o in listed if o.client_order_id != order.client_order_id]
    holding = [o for o in others if _opens(o.side, held.get(o.symbol, 0))]
    freeing = [o for o in others if not _opens(o.side, held.get(o.symbol, 0))]
    if holding:
        parts.append(
            f"{named_orders(holding)} {_verb(holding, 'holds', 'hold')} part of it until {_it(holding)} fills or ends"
        )
    if freeing:
        parts.append(f"{named_orders(freeing)} {_verb(freeing, 'frees', 'free')} none until {_it(freeing)} fills")
    parts.append("a rerun or the next checkpoint sends this one again; it goes once the buying power covers it")
    return "; ".join(parts)


def _opens(side: Side, held: float) -> bool:
    """Whether an order on `side` against `held` (signed) opens or adds at Alpaca: it holds buying power while open."""
    return held >= 0 if side is Side.BUY else held <= 0


def _verb(orders: Sequence[BrokerOrder], one: str, many: str) -> str:
    return one if len(orders) == 1 else many


def _it(orders: Sequence[BrokerOrder]) -> str:
    return "it" if len(orders) == 1 else "each"


def _figures(body: str) -> tuple[float, float] | None:
    """Alpaca's cost_basis and buying_power from a refusal's body, or None when it sent either not as a number."""
    parsed = error_object(body) or {}
    cost, power = decimal(parsed.get("cost_basis")), decimal(parsed.get("buying_power"))
    return None if cost is None or power is None else (float(cost), float(power))


def _quietly(read: Callable[[], T]) -> T | None:
    try:
        return read()
    except LlmtradeError:
        return None
