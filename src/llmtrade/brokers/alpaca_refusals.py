"""What to add to Alpaca's refusal of an order (brokers/alpaca.py `_post`): what is in its way, read from the account.

Alpaca's words name the rule, not the account's state: "insufficient qty available for order (requested: 10,
available: 5)" does not say whether an open order holds the shares or the account holds fewer than the order takes
(shares bought by hand, which llmtrade does not plan from), and a 403 about the account does not say which flag is set.
Each read here is best effort: one that fails leaves the refusal as Alpaca gave it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from llmtrade.brokers.alpaca_orders import (
    account_note,
    bare_refusal,
    crossing_note,
    held_qty_note,
    is_qty_held,
    is_wash_trade,
    wash_trade_note,
)
from llmtrade.domain.trading import BrokerOrder, Order, Position
from llmtrade.errors import LlmtradeError
from llmtrade.market.alpaca_http import error_message

T = TypeVar("T")


def refusal_note(
    status: int,
    body: str,
    order: Order,
    *,
    open_orders: Callable[[], Sequence[BrokerOrder]],
    positions: Callable[[], Mapping[str, Position]],
    account: Callable[[], Any],
) -> str:
    """For a potential wash trade (403, or 422 as some answers have it), or shares held for other orders (403
    "insufficient qty available"), the account's open orders in the way; for want of shares no order holds, the
    position the order would cross (`crossing_note`), and for a 403 about the account (blocked, day trades, buying
    power, shorting) what its account object says (`account`: Alpaca's raw account), both when both; "" for bad keys,
    another status or what cannot be read."""
    detail = error_message(body)
    if is_wash_trade(detail):
        return wash_trade_note(order, listed) if (listed := _quietly(open_orders)) is not None else ""
    crossing = ""
    if is_qty_held(detail):
        if (listed := _quietly(open_orders)) is not None and (held := held_qty_note(order, listed)):
            return held
        found = _quietly(positions)
        shares = found.get(order.symbol) if found is not None else None
        crossing = crossing_note(order, shares.qty) if shares is not None else ""
    if status != 403 or bare_refusal(detail):
        return crossing
    found_account = _quietly(account)
    said = account_note(detail, found_account) if found_account is not None else ""
    return "; ".join(part for part in (crossing, said) if part)


def _quietly(read: Callable[[], T]) -> T | None:
    try:
        return read()
    except LlmtradeError:
        return None
