"""Alpaca's buying power check of an order, as its documentation states it, for the fake (tests/fakes/alpaca_server.py,
`reserve_buying_power`).

docs.alpaca.markets "Placing Orders", Buying Power: "Alpaca applies a buying power check to both long buys and short
sells"; a market order that would open or add to a position is checked at 102.5% to 104% of its value (a market buy is
converted to a marketable limit order with a 2.5% to 4% price collar; a market short sell at 3% above the ask: Alpaca's
forum, "How to Short stocks using Alpaca's V2 API"); "your available buying power is reduced by existing open buy long
and sell short orders", and "your sell long and buy to cover orders do not replenish your available buying power until
they are executed". The refusal is 403 with the figures it compared (alpacahq/alpaca-py #225: {"buying_power":
"176531.28", "code": 40310000, "cost_basis": "48640000", "message": "insufficient buying power"}).

The fake's model: every order that opens or adds is valued at COLLAR times its shares at its symbol's price, and
available buying power is the account's (cash plus its margin) less the value of the account's open orders that open or
add, for their shares not yet filled. It uses nothing outside the standard library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# 3%: inside Alpaca's 2.5% to 4% collar on a market buy, and its 3% above the ask on a market short sell.
COLLAR = 1.03


def opens(side: str, held: float) -> bool:
    """Whether an order on `side` against a holding of `held` (signed) opens or adds: a buy from flat or long, a sell
    from flat or short. A sale of a long or a buy to cover does not (and frees nothing until it fills)."""
    return held >= 0 if side == "buy" else held <= 0


def order_value(shares: float, price: float) -> float:
    """What Alpaca checks an opening market order at: its shares at the price, with the collar."""
    return round(shares * price * COLLAR, 2)


def reserved(orders: Iterable[Mapping[str, Any]], held: Mapping[str, float], prices: Mapping[str, float]) -> float:
    """The buying power the account's open `orders` (Alpaca order JSON, ended ones skipped by the caller) that open or
    add hold: each one's shares not yet filled, valued as `order_value` at its symbol's price (`held`: signed qty by
    symbol)."""
    total = 0.0
    for order in orders:
        symbol, side = order["symbol"], order["side"]
        price = prices.get(symbol)
        if price is None or symbol is None or side is None or order["qty"] is None:
            continue  # a spread by hand or a notional order: no shares the fake can value before its fill
        if not opens(side, held.get(symbol, 0.0)):
            continue
        left = float(order["qty"]) - float(order["filled_qty"])
        total += order_value(max(left, 0.0), price)
    return total


def refusal(available: float, cost: float) -> dict[str, Any]:
    """Alpaca's 403 body refusing an order valued at `cost` against `available` buying power."""
    return {
        "buying_power": _money(available),
        "code": 40310000,
        "cost_basis": _money(cost),
        "message": "insufficient buying power",
    }


def _money(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
