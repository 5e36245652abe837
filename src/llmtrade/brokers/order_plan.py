"""From a target position to orders: the week roll, and ids that make every order unrepeatable.

Positions the new week does not keep are closed; a kept position is resized (one order), not
closed and reopened; a position that changes side is closed first and then opened, because
brokers treat crossing through zero in one order inconsistently. Each order's client_order_id is
derived from the week, account, symbol and intent only, so a rerun produces the same ids and the
broker refuses to place the same order twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date

from llmtrade.domain.trading import Order, Position, Side

MAX_ID = 48


def client_order_id(week_id: date, account_id: str, symbol: str, intent: str) -> str:
    readable = f"lt-{week_id:%Y%m%d}-{account_id}-{symbol}-{intent}"
    if len(readable) <= MAX_ID:
        return readable
    digest = hashlib.sha256(readable.encode()).hexdigest()[:12]
    return f"{readable[: MAX_ID - 13]}-{digest}"


def plan_orders(
    week_id: date, account_id: str, positions: Mapping[str, Position], symbol: str, target_qty: int, *, tag: str = ""
) -> list[Order]:
    """Orders that take `positions` to holding exactly `target_qty` of `symbol` and nothing else.

    `tag` tells apart orders of the same week with the same intent (a checkpoint's day and time)."""
    orders: list[Order] = []

    def order(sym: str, signed: int, intent: str) -> None:
        side = Side.BUY if signed > 0 else Side.SELL
        orders.append(
            Order(
                client_order_id=client_order_id(week_id, account_id, sym, f"{intent}-{tag}" if tag else intent),
                account_id=account_id,
                week_id=week_id,
                symbol=sym,
                side=side,
                qty=abs(signed),
                intent=intent,
            )
        )

    for sym, position in sorted(positions.items()):
        if sym != symbol and position.qty != 0:
            order(sym, -position.qty, "close")
    current = positions[symbol].qty if symbol in positions else 0
    if target_qty == current:
        return orders
    if current == 0:
        order(symbol, target_qty, "open")
    elif target_qty == 0:
        order(symbol, -current, "close")
    elif (current > 0) == (target_qty > 0):
        order(symbol, target_qty - current, "resize")
    else:
        order(symbol, -current, "close")
        order(symbol, target_qty, "open")
    return orders
