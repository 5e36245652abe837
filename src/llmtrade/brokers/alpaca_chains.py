"""An Alpaca order replaced outside llmtrade, read as the one order llmtrade sent: the order and its replacements.

A working order may be replaced at Alpaca (the dashboard's "edit", or PATCH /v2/orders/{id}: a new quantity, time in
force or price): Alpaca ends the old order with status "replaced", `replaced_at` and `replaced_by` (the new order's
id), and places a new order with an id of its own, a client_order_id of its own (generated unless the request gave
one), `replaces` (the old id) and the old order's other attributes, which works, fills or ends on its own
(https://docs.alpaca.markets/reference/patchorderbyorderid-1; the order object's fields:
https://docs.alpaca.markets/reference/orders; the new id and client_order_id:
https://forum.alpaca.markets/t/how-to-update-replace-existing-order-multiple-times/945). Alpaca also
ends an order "replaced" when it updates it for a market event such as a corporate action (its status documentation,
alpacahq/alpaca-ts src/models/OrderStatus.ts). Each order reports only its own executions: a partly filled order
replaced is followed by a new order for the quantity asked again (alpacahq/Alpaca-API #165), so a chain may fill more
than the order was sent for: booked as it happened, and said (brokers/overfills.py).

Read by its client_order_id alone, llmtrade's order looked dead ("replaced" was an end without a fill): the plan's trade
"did not happen", the replacement's fill was a trade by hand (the shares never llmtrade's, so the next week's roll
would buy them again beside the person's), a cancel of the plan's order by its id met the dead order (a halt reached
the replacement only as an opening order placed by hand), and a side change's opening leg was given up though its
close had filled through its replacement (an audit). So the adapter folds the chain before answering, and the
workflows stay broker-neutral: the plan's order is as its latest replacement is (working, filled, ended), its fill is
every member's fills at their own prices, under the plan's client_order_id, and what it answers says the order was
replaced outside llmtrade and by which order. Only chains whose first order is llmtrade's are folded; an order placed
and replaced by hand stays the person's, each order on its own, as before.

An order ended "replaced" whose replacement is not named (`replaced_by` null: Alpaca's update for a corporate action)
or not found by its id (404) is followed to the order whose `replaces` it is among the account's orders; found nowhere,
the chain is unresolved and read as working (`chain_result`), not ended: taken for an end, the plan's trade "did not
happen" while the replacement could still fill, and a halt's cancel stopped at the dead order ("ended already"),
leaving the replacement, an opening order of a halted account, working. Its result says why (`OrderResult.unlisted`,
`unseen_note`), which brokers/order_ends.py records and says once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from llmtrade.brokers.alpaca_orders import decimal, enum_value, taken_at, to_fill, to_result
from llmtrade.domain.reconciliation import is_ours
from llmtrade.domain.trading import BrokerOrder, Fill, OrderResult, OrderStatus

REPLACED_STATUS = "replaced"
# A chain longer than this is not followed further (a loop in what Alpaca answered, or a bot replacing without end):
# its last order read is taken as it is.
_MOST_REPLACEMENTS = 50

# An order by Alpaca's id, or None when Alpaca has none (brokers/alpaca_client.py `AlpacaTrading.by_id`).
ById = Callable[[str], Any]
# The order whose `replaces` is the given order's id, or None when the account's orders hold none
# (brokers/alpaca_client.py `AlpacaTrading.replacing`).
Replacing = Callable[[Any], Any]


def chain_of(found: Any, by_id: ById, replacing: Replacing | None = None) -> list[Any]:
    """`found` (an alpaca-py Order, or an Answer) and the orders that replaced it, oldest first, each read by id from
    the one before's `replaced_by`; where Alpaca names none (a replacement for a corporate action) or the id it names
    is not found (404), the order whose `replaces` is the one before, asked of the account's orders (`replacing`: an
    order -> the one replacing it, or None). A chain still ending "replaced" has a replacement Alpaca does not show:
    `unresolved` says so, and it is no end (`chain_result`)."""
    chain = [found]
    while enum_value(chain[-1].status) == REPLACED_STATUS and len(chain) < _MOST_REPLACEMENTS:
        named = chain[-1].replaced_by
        following = None if named is None else by_id(str(named))
        if following is None and replacing is not None:
            following = replacing(chain[-1])
        if following is None:
            break
        chain.append(following)
    return chain


def unresolved(chain: Sequence[Any]) -> bool:
    """Whether the chain's latest order was replaced by one Alpaca does not show (not named, or not found)."""
    return enum_value(chain[-1].status) == REPLACED_STATUS and len(chain) < _MOST_REPLACEMENTS


def replaced_note(chain: Sequence[Any]) -> str:
    """What a person reads of a chain: that the order was replaced outside llmtrade, and by which order(s)."""
    by = ", ".join(f"{o.id} (client_order_id {o.client_order_id})" for o in chain[1:])
    return (
        f"order {chain[0].client_order_id} was replaced outside llmtrade (by hand in alpaca's dashboard or its API, "
        f"or by alpaca for a corporate action) by order {by}"
    )


def chain_result(chain: Sequence[Any]) -> OrderResult:
    """The chain as the one order its first member is: the latest member's status, every member's fills (their
    average at their own prices), under the first member's client_order_id."""
    latest = to_result(chain[-1])
    if unresolved(chain):
        # "replaced" ends the order, not the trade: its replacement works on, unseen. Taken for an end, the plan's
        # order "did not happen" while the replacement could fill, and a halt's cancel stopped at the dead order.
        # Working until Alpaca shows the replacement (looked up again at every look), never ended by assumption.
        latest = latest.model_copy(
            update={
                "status": OrderStatus.ACCEPTED,
                "message": f"{latest.message}; replaced by an order alpaca does not show (yet): taken as working, "
                "not ended, and looked up again",
                "unlisted": unseen_note(chain),
            }
        )
    if len(chain) == 1:
        return latest
    done, price = _filled(chain)
    return OrderResult(
        client_order_id=chain[0].client_order_id,
        status=latest.status,
        broker_order_id=latest.broker_order_id,
        filled_qty=int(done),
        fill_price=float(price) if done > 0 and price is not None else None,
        message=f"{latest.message}; {replaced_note(chain)}",
        unlisted=latest.unlisted,
        submitted_at=taken_at(chain[0]),  # the order llmtrade sent, not a replacement a person made of it
    )


def unseen_note(chain: Sequence[Any]) -> str:
    """What a person reads of an unresolved chain (`unresolved`), said once (brokers/order_ends.py): what alpaca shows,
    what llmtrade does meanwhile, and what to do."""
    last = chain[-1]
    named = last.replaced_by
    shown = (
        "names no replacement (replaced_by null)" if named is None else f"names order {named}, which it does not find"
    )
    first = chain[0].client_order_id
    which = (
        f"llmtrade's order {first} (alpaca id {last.id})"
        if len(chain) == 1
        else f"order {last.id} (client_order_id {last.client_order_id}), which had replaced llmtrade's order {first},"
    )
    return (
        f"alpaca ended {which} 'replaced' and shows no order in its place: it {shown}, and no order of the "
        "account's lists it as replaced. Meanwhile llmtrade takes the order as still working: nothing is sent again, "
        "no fill or end of it is booked, and a cancel of it is not made. Look at the order in alpaca's dashboard "
        "(replaced by hand, or by alpaca for a corporate action); the next look follows its replacement once alpaca "
        "shows it"
    )


def _filled(chain: Sequence[Any]) -> tuple[Decimal, Decimal | None]:
    """The shares the chain's members filled in all, and their average price (None when nothing filled)."""
    done, value = Decimal(0), Decimal(0)
    for order in chain:
        qty, price = decimal(order.filled_qty), decimal(order.filled_avg_price)
        if qty is not None and qty > 0 and price is not None and price > 0:
            done += qty
            value += qty * price
    return done, (value / done if done > 0 else None)


def _root(order: Any, known: dict[str, Any], by_id: ById) -> Any:
    """The first order of the chain `order` is in (itself when it replaces none), read from `known` (by id) or by id."""
    current = order
    for _ in range(_MOST_REPLACEMENTS):
        replaces = current.replaces
        if replaces is None:
            return current
        earlier = known.get(str(replaces))
        if earlier is None:
            earlier = by_id(str(replaces))
            if earlier is None:
                return current
            known[str(replaces)] = earlier
        current = earlier
    return current


def chains(listed: Sequence[Any], by_id: ById) -> tuple[dict[str, list[Any]], set[str]]:
    """The chains among `listed` (single orders) whose first order is llmtrade's: first order's id -> the chain's
    members (the first included, read by id when `listed` lacks it), oldest first; and the ids of every member. An
    order that replaces none and was replaced by none is in no chain."""
    known = {str(o.id): o for o in listed}
    members: dict[str, list[Any]] = {}
    for order in listed:
        if order.replaces is None:
            continue
        root = _root(order, known, by_id)
        if root is order or not is_ours(root.client_order_id):
            continue
        found = members.setdefault(str(root.id), [root])
        if all(str(o.id) != str(order.id) for o in found):
            found.append(order)
    for found in members.values():
        found.sort(key=lambda o: (o.submitted_at is None, o.submitted_at))
    return members, {str(o.id) for found in members.values() for o in found}


def folded_fills(listed: Sequence[Any], account_id: str, by_id: ById) -> list[Fill]:
    """The fills of `listed` (single orders), one per order, a chain of llmtrade's as one fill of its first order."""
    grouped, folded = chains(listed, by_id)
    alone = [o for o in listed if str(o.id) not in folded and not _unseen_replacement(o)]
    fills = [f for f in (to_fill(o, account_id) for o in alone) if f is not None]
    for chain in grouped.values():
        if (fill := _chain_fill(chain, account_id)) is not None:
            fills.append(fill)
    return fills


def _unseen_replacement(order: Any) -> bool:
    """Whether `order`, llmtrade's and in no chain, was replaced by an order the listing does not show (not yet, or
    not as replacing it): its fill so far is no final fill, as its "replaced" is no end (`chain_result`). Booked, a part
    fill was the order's one OrderFilled, and the replacement's shares, once shown and filled, were refused as a second
    fill of the order and held as if by hand."""
    return enum_value(order.status) == REPLACED_STATUS and is_ours(order.client_order_id)


def _chain_fill(chain: Sequence[Any], account_id: str) -> Fill | None:
    """The chain's fill as its first order's: every member's shares at their average price, stamped at the latest
    member's fill (or last update: to_fill says which)."""
    done, price = _filled(chain)
    latest = next((f for f in (to_fill(o, account_id) for o in reversed(chain)) if f is not None), None)
    if latest is None or price is None:
        return None
    whole = int(done)
    said = "; ".join(part for part in (latest.price_source, replaced_note(chain)) if part)
    return latest.model_copy(
        update={
            "client_order_id": chain[0].client_order_id,
            "qty": whole,
            "exact": "" if whole == done else format(done.normalize(), "f"),
            "price": float(price),
            "price_source": f"alpaca average price of the order and its replacements: {said}",
            "replaced_by": ", ".join(f"{o.id} ({o.client_order_id})" for o in chain[1:]),
        }
    )


def folded_open(listed: Sequence[Any], orders: Sequence[BrokerOrder], by_id: ById) -> list[BrokerOrder]:
    """`orders` (open, as listed from `listed`), a replacement of an order of llmtrade's named by its first order's
    client_order_id: the plan's order is working at alpaca as it (its quantity and fills are its own). A replace under
    way lists two orders, the old one (pending_replace, still working at its venue) and the new one (not there yet),
    of which one only works on: the new once the replace lands, the old if it fills first (the new one is then
    rejected). They are one order, listed as the one with more left to fill (`_alternatives`): counted twice, a close
    being replaced was two sells against one position, the second read as opening a short, and a halt canceled it."""
    roots: dict[str, str] = {}
    for order in listed:
        if order.replaces is not None:
            root = _root(order, {}, by_id)
            if root is not order and is_ours(root.client_order_id):
                roots[str(order.id)] = root.client_order_id
    dropped = _alternatives(listed, orders, roots)
    return [
        o.model_copy(update={"client_order_id": roots[o.broker_order_id]}) if o.broker_order_id in roots else o
        for o in orders
        if o.broker_order_id not in dropped
    ]


def _alternatives(listed: Sequence[Any], orders: Sequence[BrokerOrder], roots: dict[str, str]) -> set[str]:
    """The ids of the orders left out of `orders` because a replace is under way between them and an order that may
    fill more (see `folded_open`): of an old order listed open and its replacement, the one with less left to fill.
    Only in a chain of llmtrade's (`roots`: replacement id -> the plan's client_order_id), whose two orders are one
    client_order_id, working while either is: a person's two keep their own ids, each working while listed, so that
    neither's fill so far is taken as final (brokers/fills.py)."""
    by_id = {o.broker_order_id: o for o in orders}
    dropped: set[str] = set()
    for order in listed:
        if str(order.id) not in roots:
            continue
        new, old = by_id.get(str(order.id)), by_id.get(str(order.replaces or ""))
        if new is None or old is None:
            continue
        left_new, left_old = new.qty - new.filled_qty, old.qty - old.filled_qty
        dropped.add(old.broker_order_id if left_new >= left_old else new.broker_order_id)
    return dropped
