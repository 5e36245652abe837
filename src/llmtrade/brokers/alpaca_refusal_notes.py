"""Alpaca's refusals of an order (its error bodies) read and said: whether a refusal is of a client_order_id it holds
already, of keys, of shares held or crossed, of a wash trade, and what the account says of it in words the user can act
on (brokers/alpaca_refusals.py asks the account; this module only words what it found).

Kept apart from brokers/alpaca_orders.py, which reads Alpaca's answers (orders, fills, positions) as our records.
Nothing here imports alpaca-py either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmtrade.brokers.alpaca_orders import enum_value, money
from llmtrade.domain.reconciliation import is_ours
from llmtrade.domain.trading import BrokerOrder, Order, Side
from llmtrade.market.alpaca_http import error_code, error_message

# Alpaca's code for an invalid order request. It covers many validation errors, so the message decides
# whether it is the duplicate client_order_id.
_INVALID_REQUEST_CODE = 40010001
_KEYS_HINT = "check the account's keys (alpaca.key_env / alpaca.secret_env in accounts.yaml)"


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
    carry the position past zero, which Alpaca takes in no one order. "" when the holding is no reason (the order does
    not cross it).

    Which way the books and Alpaca differ follows from what the order is. An opening order is sized from no position
    of llmtrade's: what Alpaca holds is not llmtrade's, shares bought or sold by hand, which llmtrade does not plan from
    (an audit: 5 SPY bought by hand, the PM's short of 10 refused, and nothing named the 5), or a fraction of a share,
    which its whole-share orders cannot trade (half a share bought by hand, or left by a split, said nothing at all).
    A close or a resize is sized from llmtrade's books, which hold more than Alpaca does: shares sold (or a short
    bought back) by hand, or a position changed outside llmtrade; it was said the other way round ("shares bought by
    hand", adopt them), telling the user to hand llmtrade shares that were not there."""
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
    if order.intent != "open":
        return said + _fewer_note(order, held)
    if int(held) == 0:
        return said + (
            "it is a fraction of a share, which llmtrade's whole-share orders cannot trade: close it in Alpaca's "
            "dashboard; next week's orders go once it is gone"
        )
    by_hand = "bought" if held > 0 else "sold"
    return said + (
        f"llmtrade plans from the shares it manages, so shares {by_hand} by hand are not among them: `llmtrade "
        "positions list` shows both, and `llmtrade positions adopt` hands them to llmtrade (or close them in Alpaca's "
        "dashboard); next week plans from what it manages then"
    )


def _fewer_note(order: Order, held: float) -> str:
    """`crossing_note` for a close or a resize: sized from llmtrade's books, which hold more than Alpaca does."""
    # A close is for the whole position the books hold: what is missing at Alpaca is known. A resize leaves some.
    missing = f"{order.qty - abs(held):g} " if order.intent == "close" else "shares "
    by_hand = "sold by hand" if held > 0 else "bought back by hand (a short covered)"
    return (
        f"the account holds fewer {order.symbol} at Alpaca than llmtrade's books, which this {order.intent} of "
        f"{order.qty} was sized from: {missing}{by_hand}, or the position changed outside llmtrade (a split not "
        "recorded yet, which the next look records). `llmtrade positions list` shows both; a rerun or the next "
        "checkpoint sends this one again, refused again while they differ: if the shares were traded by hand, "
        f"`llmtrade positions release {order.account_id} {order.symbol}` hands the position to you (close what is left "
        "in Alpaca's dashboard)"
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
