"""What to add to Alpaca's refusal of an order (brokers/alpaca.py `_post`): what is in its way, read from the account;
and whether the refusal lasts the week (`is_lasting`).

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


def is_lasting(status: int, body: str, *, opens: bool) -> bool:
    """Whether Alpaca's refusal (`status`, its error `body`) of an order will not change by sending the order again
    this week (`_LASTING_WORDS`; "not tradable" only when the order `opens` a position); False for every other
    refusal, those in words not known included."""
    detail = error_message(body)
    if status not in _LASTING_STATUSES or is_wash_trade(detail) or is_qty_held(detail):
        return False  # an order in the way or shares held for one: both end (checked first: their words may change)
    said = detail.lower()
    return any(words in said for words in _LASTING_WORDS) or (opens and _NOT_TRADABLE in said)


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
