"""Alpaca's answers (alpaca-py models, and its error bodies) as our records: orders, fills, positions, money, refusals.

Kept apart from brokers/alpaca.py, which talks to Alpaca; this module only reads what came back.
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

from llmtrade.domain.reconciliation import is_ours
from llmtrade.domain.trading import BrokerOrder, Fill, Order, OrderResult, OrderStatus, Position, Side
from llmtrade.errors import OperationalError
from llmtrade.market.alpaca_http import error_code, error_message

# Alpaca's code for an invalid order request. It covers many validation errors, so the message decides
# whether it is the duplicate client_order_id.
_INVALID_REQUEST_CODE = 40010001
_KEYS_HINT = "check the account's keys (alpaca.key_env / alpaca.secret_env in accounts.yaml)"

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
    )


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


def is_duplicate_id(body: str) -> bool:
    """Whether an error `body` is Alpaca's refusal of a client_order_id it already holds (422, code 40010001)."""
    message = error_message(body).lower()
    return error_code(body) == _INVALID_REQUEST_CODE and "client_order_id" in message and "unique" in message


def refusal(head: str, status: int, body: str) -> str:
    """What to say of a refusal: `head`, Alpaca's own reason and the status; for bad keys, where to look."""
    detail = error_message(body)
    text = f"{head}: {detail} (HTTP {status})"
    # Alpaca answers bad keys with 401, or with a bare 403 "forbidden." (its trailing period included); a 403 with a
    # reason is about the order.
    if status == 401 or (status == 403 and bare_refusal(detail)):
        text += f"; {_KEYS_HINT}"
    return text


def account_note(detail: str, account: Any) -> str:
    """What Alpaca's account object says about a 403 refusal of an order (`detail`: Alpaca's reason), in words the
    user can act on; "" when it says nothing more. Alpaca's reasons name the rule, not the account's state."""
    status = enum_value(account.status)
    if account.trading_blocked or account.account_blocked or status != "ACTIVE":
        flags = f"trading_blocked {_flag(account.trading_blocked)}, account_blocked {_flag(account.account_blocked)}"
        return (
            f"the Alpaca account is not open for trading (status {status}, {flags}): see it in Alpaca's dashboard; "
            "its orders are refused until it is ACTIVE and unblocked"
        )
    text = detail.lower()
    if "pattern day" in text:
        return (
            f"Alpaca's pattern day trading protection: equity {money(account.equity, 'equity'):,.2f} (under 25,000 "
            f"Alpaca allows 3 day trades in 5 sessions) with {account.daytrade_count} day trade(s) counted; the order "
            "goes once a day trade leaves that window or the equity is 25,000 or more"
        )
    if "buying power" in text:
        return f"the account's buying power is {money(account.buying_power, 'buying_power'):,.2f}"
    if "short" in text and not account.shorting_enabled:
        return "the account may not sell short (shorting_enabled false: Alpaca allows it from 2,000 of equity)"
    return ""


def _flag(value: Any) -> str:
    return "true" if value else "false"  # as Alpaca's JSON spells it


def bare_refusal(detail: str) -> bool:
    """Whether a 403's reason is Alpaca's bare "forbidden." (bad keys), which names no rule of the order."""
    return detail.strip().rstrip(".").lower() in ("forbidden", "unauthorized")


def is_qty_held(detail: str) -> bool:
    """Whether Alpaca's reason is its refusal of an order against a position for more shares than are held and not
    already held for the account's other open orders ("insufficient qty available for order (requested: 46,
    available: 36)")."""
    return "insufficient qty available" in detail.lower()


def held_qty_note(order: Order, listed: Sequence[BrokerOrder]) -> str:
    """What to do about Alpaca's refusal of `order` for want of shares: `listed`, the account's open orders, name those
    on the same side of the symbol that hold shares of the position for themselves (one llmtrade did not make was
    placed by hand). "" when none is listed (the shares are gone, not held: reconciliation says so)."""
    ways = [o for o in listed if o.symbol.upper() == order.symbol.upper() and o.side is order.side]
    if not ways:
        return ""
    said = (
        f"Alpaca holds shares of the position for the account's own open order on the same side: {named_orders(ways)}"
    )
    if all(o.canceling for o in ways):
        return f"{said} is being canceled (pending_cancel); a rerun or the next checkpoint sends this one once it ends"
    if all(is_ours(o.client_order_id) for o in ways):
        # llmtrade's own (a close still working): nothing for the user to cancel, its end frees the shares or not.
        return f"{said} is working; a rerun or the next checkpoint sends this one once it has ended"
    return (
        f"{said} is open; cancel the one placed by hand in Alpaca's dashboard, and a rerun or the next checkpoint "
        "sends this one"
    )


def crossing_note(order: Order, held: float) -> str:
    """What to do about Alpaca's refusal of `order` for want of shares when no open order holds them: the account holds
    `held` of the symbol at Alpaca (signed, a fraction of a share included), fewer than the order takes, so it would
    carry the position past zero, which Alpaca takes in no one order. llmtrade plans from the shares it manages: ones
    bought or sold by hand are not among them (an audit: 5 SPY bought by hand, the PM's short of 10 refused, and nothing
    named the 5), nor is a fraction of a share, which its whole-share orders cannot trade (half a share bought by hand,
    or left by a split, said nothing at all). "" when the holding is no reason (the order does not cross it)."""
    after = held + (order.qty if order.side is Side.BUY else -order.qty)
    if held == 0 or (after > 0) == (held > 0) or after == 0:
        return ""
    side = "long" if held > 0 else "short"
    said = (
        f"the account holds {abs(held):g} {order.symbol} {side} at Alpaca and this {order.side.value} of {order.qty} "
        "would carry the position past zero, which Alpaca takes in no one order; "
    )
    # An opening order is given up for the week (alpaca_refusals.py `is_lasting`): nothing llmtrade does removes the
    # holding, so sending it again is refused again; a close is sent again.
    opens = order.intent == "open"
    if int(held) == 0:
        then = (
            "; next week's orders go once it is gone"
            if opens
            else ", and a rerun or the next checkpoint sends this one"
        )
        return said + (
            "it is a fraction of a share, which llmtrade's whole-share orders cannot trade: close it in Alpaca's "
            f"dashboard{then}"
        )
    by_hand = "bought" if held > 0 else "sold"
    then = "; next week plans from what it manages then" if opens else ""
    return said + (
        f"llmtrade plans from the shares it manages, so shares {by_hand} by hand are not among them: `llmtrade "
        "positions list` shows both, and `llmtrade positions adopt` hands them to llmtrade (or close them in Alpaca's "
        f"dashboard){then}"
    )


def named_orders(orders: Sequence[BrokerOrder]) -> str:
    """Open orders as a person reads them: "sell 10 SPY (<client_order_id>, by hand)"."""
    return ", ".join(
        f"{o.side.value} {o.size()} {o.symbol} ({o.client_order_id}{'' if is_ours(o.client_order_id) else ', by hand'})"
        for o in orders
    )


def is_wash_trade(detail: str) -> bool:
    """Whether Alpaca's reason is a refusal for an open order of the account on the other side of the symbol: its
    wash-trade refusal ("potential wash trade detected. use complex orders"), or its older words for the same rule
    (403, code 40310000: "cannot open a short sell while a long buy order is open", "cannot open a long buy while a
    short sell order is open"; alpacahq/alpaca-trade-api-python #396), which named no order in the way (an audit)."""
    said = detail.lower()
    return "wash trade" in said or ("cannot open a" in said and "order is open" in said)


def wash_trade_note(order: Order, listed: Sequence[BrokerOrder]) -> str:
    """What to do about a wash-trade refusal of `order`: Alpaca refuses an order that could fill against an open order
    of the same account on the other side of the symbol; `listed`, the account's open orders, name those in the way
    (one llmtrade did not make was placed by hand). "" when none is listed any more."""
    other = Side.SELL if order.side is Side.BUY else Side.BUY
    ways = [o for o in listed if o.symbol.upper() == order.symbol.upper() and o.side is other]
    if not ways:
        return ""
    said = "Alpaca refuses an order that could trade against the account's own open order on the other side: "
    said += named_orders(ways)
    if all(o.canceling for o in ways):
        # Its cancel was asked already (the breaker's, or by hand) and Alpaca has not taken it yet (pending_cancel,
        # until the venue takes it: at the next open when asked outside market hours): nothing to cancel again.
        return f"{said} is being canceled (pending_cancel); a rerun or the next checkpoint sends this one once it ends"
    return (
        f"{said} is open; cancel it in Alpaca's dashboard or let it fill, and a rerun or the next checkpoint sends "
        "this one"
    )
