"""Alpaca's answers (alpaca-py models) as our records: orders, fills, positions, money.

Kept apart from brokers/alpaca.py, which talks to Alpaca; this module only reads what came back. What a refusal's
error body says, and what to add to it, is brokers/alpaca_refusal_notes.py's.
Nothing here imports alpaca-py: fields are read by name, enums by their string values, so importing
the broker stays cheap. Money and quantities arrive as strings ("1000.5", "-10"); Decimal reads them
without float noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from llmtrade.domain.trading import BrokerOrder, Fill, OrderResult, OrderStatus, Position, Side
from llmtrade.errors import OperationalError

# alpaca-py OrderStatus values, as strings so this module need not import alpaca-py. Everything that is
# neither filled nor ended (new, accepted, pending_new, partially_filled, held, done_for_day,
# pending_cancel, stopped, suspended, ...) is still working at Alpaca: ACCEPTED, and listed by
# GET /v2/orders?status=open. "stopped" is a trade guaranteed but not yet made; "suspended" may trade
# again; taking either for dead would let a plan be made against positions about to change. done_for_day exists
# but cannot fill before the next trading day (`DONE_TODAY`).
FILLED_STATUSES = frozenset({"filled"})
CANCELED_STATUSES = frozenset({"canceled"})
# "replaced" ends the order read alone; the order that replaced it works on in its place, which brokers/alpaca.py
# follows (brokers/alpaca_chains.py) before answering for an order of llmtrade's.
DEAD_STATUSES = frozenset({"rejected", "expired", "replaced"})
# Working, with a cancel under way (by us or by hand): Alpaca's venue takes it in seconds, or at the next open when
# asked outside market hours, and an order it cannot cancel stays so until it fills.
CANCELING_STATUS = "pending_cancel"
# Done executing for the day: done_for_day "will not receive further updates until the next trading day", and
# calculated "has been completed for the day (either filled or done for day), but remaining settlement calculations
# are still pending" (Alpaca's order lifecycle); a DAY order then ends filled or expired. Still open (never sent
# again), what filled already in its filled_qty, but nothing more to wait for today (BrokerOrder.done_for_day).
DONE_TODAY = frozenset({"done_for_day", "calculated"})


def order_status(found: Any) -> OrderStatus:
    status = enum_value(found.status)
    if status in FILLED_STATUSES:
        return OrderStatus.FILLED
    if status in CANCELED_STATUSES:
        return OrderStatus.CANCELED
    if status in DEAD_STATUSES:
        return OrderStatus.REJECTED
    return OrderStatus.ACCEPTED


def is_working(found: Any) -> bool:
    return order_status(found) is OrderStatus.ACCEPTED


def canceling(found: Any) -> bool:
    """Whether a cancel of the order is under way (Alpaca's pending_cancel): still working, it may fill yet."""
    return enum_value(found.status) == CANCELING_STATUS


def filled_qty(found: Any) -> int:
    # Whole shares: we trade whole shares; a fractional remainder is not ours to account for.
    return int(decimal(found.filled_qty) or 0)


def to_result(found: Any) -> OrderResult:
    """An alpaca-py Order as our OrderResult."""
    status = enum_value(found.status)
    done = filled_qty(found)
    price = decimal(found.filled_avg_price)
    message = f"alpaca status {status}"
    ended: datetime | None = None
    if status in DEAD_STATUSES or status in CANCELED_STATUSES:
        # When Alpaca ended it: a queued order rejected at the open, a DAY order expired at the close.
        ended = found.failed_at or found.expired_at or found.canceled_at or found.updated_at
    if ended is not None:
        message += f" at {ended.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if done > 0 and status not in FILLED_STATUSES:
        message += f", {done} of {found.qty} filled"
    return OrderResult(
        client_order_id=found.client_order_id,
        status=order_status(found),
        broker_order_id=str(found.id),
        filled_qty=done,
        fill_price=float(price) if done > 0 and price is not None else None,
        message=message,
        submitted_at=taken_at(found),
    )


def taken_at(found: Any) -> datetime | None:
    """When Alpaca took the order (alpaca-py Order): its submitted_at, else its created_at (both nullable in the
    Orders API's order object)."""
    return found.submitted_at or found.created_at


def single_orders(listed: Sequence[Any]) -> list[Any]:
    """`listed` (alpaca-py Orders) as orders each in one symbol with a side: a multi-leg order (order_class mleg: an
    options spread, placed by hand; llmtrade never sends one) has neither of its own, only its legs, which carry their
    own quantity, status and fills, so it stands for them. Each order once (by id), should Alpaca list a leg on its own
    too. One listed without its legs names nothing to compare: it is left out, its legs' positions still compared."""
    seen: dict[str, Any] = {}
    for found in listed:
        for order in [found] if found.symbol and found.side is not None else list(found.legs or []):
            seen.setdefault(str(order.id), order)
    return list(seen.values())


def leg_parents(listed: Sequence[Any]) -> dict[str, str]:
    """Each leg's id in `listed` (alpaca-py Orders) -> the client_order_id of the multi-leg order it is a leg of."""
    spreads = [found for found in listed if not (found.symbol and found.side is not None)]  # as `single_orders`
    return {str(leg.id): found.client_order_id for found in spreads for leg in (found.legs or [])}


def to_broker_order(found: Any, parent: str = "") -> BrokerOrder:
    """An alpaca-py Order as our BrokerOrder. One in a fraction of a share or in dollars (a notional order: no qty until
    it fills), which Alpaca's web page places for a fractionable asset, is listed with the whole shares it may fill at
    most (`BrokerOrder.ordered` says what it was given in): llmtrade sends neither, but a look at the account must
    not fail on one a person placed."""
    qty, notional = decimal(found.qty), decimal(getattr(found, "notional", None))
    ordered = ""
    if qty is not None and qty > 0:
        whole = int(qty.to_integral_value(rounding=ROUND_CEILING))
        if whole != qty:
            ordered = _shares_text(qty)
    elif notional is not None and notional > 0:
        whole, ordered = 0, f"${notional:,.2f} of"
    else:
        raise OperationalError(
            f"alpaca sent order {found.client_order_id} with neither a quantity ({found.qty!r}) nor an amount "
            f"({getattr(found, 'notional', None)!r})"
        )
    return BrokerOrder(
        client_order_id=found.client_order_id,
        symbol=found.symbol,
        side=_side(found),
        qty=whole,
        ordered=ordered,
        status=order_status(found),
        filled_qty=filled_qty(found),
        broker_order_id=str(found.id),
        submitted_at=found.submitted_at,
        canceling=canceling(found),
        parent=parent,
        done_for_day=enum_value(found.status) in DONE_TODAY,
    )


# A fill whose order had no filled_at: its filled_at is the order's last update (its end), not when it traded.
_NOT_THE_TRADE_TIME = "alpaca average price; filled_at is the order's last update (no fill time given), not the trade's"


def to_fill(found: Any, account_id: str) -> Fill | None:
    """The order's execution so far (quantity and average price), or None when nothing has filled. A fill in a fraction
    of a share (by hand: llmtrade sends whole shares) carries the quantity Alpaca filled exactly (`Fill.exact`): read
    as whole shares, 0.5 was no fill at all and 2.25 a fill of 2, the user's P/L on the fraction the account's."""
    done = decimal(found.filled_qty)
    price = decimal(found.filled_avg_price)
    if done is None or done <= 0 or price is None or price <= 0:
        return None
    whole = int(done)
    # Alpaca stamps filled_at only when the order fills whole. An order partly filled and then ended (a DAY order
    # expired at the close, a cancel) has none: the order object holds no time of its trades, only updated_at, its
    # last change, i.e. when it ended. The times of the executions are in the account activities (FILL and
    # PARTIAL_FILL, transaction_time), an API llmtrade does not call; so such a fill is stamped at the order's last
    # update and says so, that no reader takes it for the time it traded.
    when: datetime | None = found.filled_at or found.updated_at
    if when is None:
        raise OperationalError(f"alpaca sent filled order {found.client_order_id} without filled_at or updated_at")
    source = "" if found.filled_at else _NOT_THE_TRADE_TIME
    return Fill(
        client_order_id=found.client_order_id,
        account_id=account_id,
        symbol=found.symbol,
        side=_side(found),
        qty=whole,
        exact="" if whole == done else _shares_text(done),
        price=float(price),
        commission=0.0,  # Alpaca charges no commission on US equities; regulatory fees are not per order
        filled_at=when,
        price_source=source,
    )


def _side(found: Any) -> Side:
    """The order's side, or an error naming the order when Alpaca sent neither buy nor sell."""
    side = enum_value(found.side)
    if side not in (Side.BUY.value, Side.SELL.value):
        raise OperationalError(f"alpaca sent order {found.client_order_id} with side {side!r}, neither buy nor sell")
    return Side(side)


def fraction(raw: Any) -> float:
    """The signed fraction of a share an alpaca-py Position holds beyond its whole shares (0.0 for none)."""
    qty = decimal(raw.qty)
    if qty is None:
        return 0.0
    signed = -abs(qty) if enum_value(raw.side) == "short" else abs(qty)
    return float(signed - int(signed))


def to_position(raw: Any, prices: Mapping[str, float]) -> Position | None:
    """An alpaca-py Position as ours (signed whole shares), or None when less than one share is held; the fraction
    beyond them is `fraction`'s, reported by reconciliation rather than dropped without a word."""
    qty = decimal(raw.qty)
    if qty is None:
        raise OperationalError(f"alpaca sent position {raw.symbol} without a quantity")
    # Alpaca sends a short as side "short" with a negative qty; trust the side even if the sign is missing.
    signed = -abs(qty) if enum_value(raw.side) == "short" else abs(qty)
    # Whole shares only: we trade whole shares, and a fractional remainder cannot be sold by our orders anyway.
    whole = int(signed)
    if whole == 0:
        return None
    avg = decimal(raw.avg_entry_price)
    avg_price = float(avg) if avg is not None and avg > 0 else prices.get(raw.symbol)
    if avg_price is None or avg_price <= 0:
        raise OperationalError(f"alpaca sent position {raw.symbol} without an average entry price and none was given")
    return Position(symbol=raw.symbol, qty=whole, avg_price=avg_price)


def money(value: Any, field: str) -> float:
    amount = decimal(value)
    if amount is None:
        raise OperationalError(f"alpaca sent no {field} (got {value!r})")
    return float(amount)


def _shares_text(qty: Decimal) -> str:
    """A share count as Alpaca wrote it, without trailing zeros ("0.5", "2.25")."""
    text = format(qty, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))


def short(exc: ValidationError) -> str:
    """A one-line reason: pydantic's first error rather than its multi-line report."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]
