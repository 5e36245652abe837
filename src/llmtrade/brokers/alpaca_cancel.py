"""Canceling an order of llmtrade's at Alpaca (brokers/alpaca.py `AlpacaBroker.cancel`): what to DELETE, and what the
answer means.

The order to cancel is the one working in the plan's order's place (brokers/alpaca_chains.py: replaced outside
llmtrade). A cancel Alpaca cannot take is not made, and says so by a raise (the breaker takes its request back and the
next look asks again): one whose replacement Alpaca does not show, and one whose order is being replaced. Alpaca's
order in "pending_replace" (a PATCH or the dashboard's "edit" under way: the old order still works at its venue, the new
one is not there yet) "will reject cancel request while in this state" (its order status documentation; the PATCH's
success "does NOT guarantee the existing open order has been replaced": https://docs.alpaca.markets/reference/
patchorderbyorderid-1). Its DELETE's refusal (422) was read as an order ended or canceled by another hand: a halt took
its request back as "not asked" and the replacement, an opening order of a halted account, went on working until a later
look, free to fill. So the cancel waits the replace out (it lands in moments: Alpaca's answer or its venue's) and
cancels what works then; still under way after REPLACE_WAIT_SECONDS, it is not made.
"""

from __future__ import annotations

from typing import Any

from llmtrade.brokers.alpaca_chains import chain_result, unresolved
from llmtrade.brokers.alpaca_client import AlpacaTrading
from llmtrade.brokers.alpaca_orders import canceling, enum_value, is_working
from llmtrade.brokers.protocol import CancelAnswer
from llmtrade.errors import BrokerUnavailable

REPLACING_STATUS = "pending_replace"
# How long a cancel waits for a replace under way to land, looking every REPLACE_POLL_SECONDS.
REPLACE_WAIT_SECONDS = 3.0
REPLACE_POLL_SECONDS = 0.25
# A DELETE refused because a replace began between the look and it is tried again once the replace has landed.
_ATTEMPTS = 2


def being_replaced(found: Any) -> bool:
    """Whether Alpaca is replacing the order (pending_replace): still working, and no cancel of it is taken."""
    return enum_value(found.status) == REPLACING_STATUS


def cancel_order(api: AlpacaTrading, client_order_id: str) -> CancelAnswer | None:
    """`Broker.cancel` at Alpaca (see the module docstring and brokers/protocol.py)."""
    first = api.lookup(client_order_id)
    if first is None:
        return None
    chain = api.chain(first)
    for _ in range(_ATTEMPTS):
        chain = _replace_landed(api, client_order_id, chain)
        answer = _cancel_latest(api, client_order_id, chain)
        if isinstance(answer, CancelAnswer):
            return answer
        chain = answer  # refused: a replace began between the look and the DELETE
    raise _not_made(client_order_id)


def _replace_landed(api: AlpacaTrading, client_order_id: str, chain: list[Any]) -> list[Any]:
    """`chain`, or the order's chain looked up again once a replace under way at its latest order has landed (for at
    most REPLACE_WAIT_SECONDS); a failed look ends the wait, the chain as last read."""
    waited = 0.0
    while being_replaced(chain[-1]) and waited < REPLACE_WAIT_SECONDS:
        api.waits.sleep(REPLACE_POLL_SECONDS)
        waited += REPLACE_POLL_SECONDS
        again = api.looked_up_chain(client_order_id)
        if again is None:
            break
        chain = again
    return chain


def _not_made(client_order_id: str) -> BrokerUnavailable:
    return BrokerUnavailable(
        f"alpaca is replacing order {client_order_id} (pending_replace: replaced by hand in its dashboard or its API) "
        f"and refuses to cancel an order while it does; the cancel was not made (waited {REPLACE_WAIT_SECONDS:g} s "
        "for the replace to land); the next look asks again"
    )


def _cancel_latest(api: AlpacaTrading, client_order_id: str, chain: list[Any]) -> CancelAnswer | list[Any]:
    """The cancel of `chain`'s latest order: its answer, or the chain looked up again when Alpaca refused the DELETE
    because a replace of the order began (to be waited out and asked again)."""
    # lazy: alpaca-py is heavy; keeps CLI start-up fast
    from alpaca.common.exceptions import APIError

    if unresolved(chain):  # no cancel can reach the order working in its place: none made (the next look asks)
        raise BrokerUnavailable(
            f"alpaca replaced order {client_order_id} by an order it does not show (yet): the cancel could not "
            "reach the order working in its place and was not made; the next look asks again"
        )
    found = chain[-1]
    if being_replaced(found):
        raise _not_made(client_order_id)
    if not is_working(found) or canceling(found):
        # Filled or ended already (no error), or its cancel under way: asked once, by whoever asked it. Not this
        # call's: a cancel made by hand between the caller's listing of the order and this look is not ours.
        return CancelAnswer(chain_result(chain), asked=False)
    client = api.client()

    def delete() -> bool:
        try:
            client.cancel_order_by_id(found.id)
        except APIError as exc:
            # 422: the order filled or ended between our lookup and the DELETE (its state says which), or a replace of
            # it began: the cancel refused, and an end found after it is not this call's. 404 for the order the look
            # had just found (moved under a replace, or Alpaca's own lag) is read the same way, by the look after it,
            # not as a refusal for good (exit 1) of a cancel the next look can make.
            if exc.status_code not in (404, 422):
                raise
            return False
        return True

    try:
        asked = api.read(f"the cancel of order {client_order_id}", delete)
    except BrokerUnavailable:
        # No answer, or a 5xx: Alpaca may have carried it out. A raise says a cancel not made (the breaker takes
        # its request back): only for an order still working with no cancel under way, or unknown (no look-up).
        after = api.looked_up_chain(client_order_id)
        if after is None or (is_working(after[-1]) and not canceling(after[-1])):
            raise
        return CancelAnswer(chain_result(after), asked=True)  # as far as anyone knows, this call's DELETE did it
    # The DELETE answers 204 with no body; the order's state afterwards (canceled, or pending_cancel while Alpaca
    # works on it, or filled when the fill won the race) comes from a lookup. One that fails is no failed cancel
    # (a raise says none was made): the next look reads the order; until then it is as found.
    after = api.looked_up_chain(client_order_id)
    if not asked and after is None:
        # Refused, and its state unread: it ended, or a replace of it began and the order working in its place was
        # never asked. Answered "not asked" with the order as first found (working), a halt read a cancel under way by
        # another hand, took its request back without an error, and left a replacement working until a later job.
        raise BrokerUnavailable(
            f"alpaca refused the cancel of order {client_order_id} (it ended, or a replace of it began) and looking it "
            "up afterwards failed: the cancel was not made; the next look asks again"
        )
    if not asked and _replaced_since(found, after[-1]):
        return after
    if not asked and is_working(after[-1]) and not canceling(after[-1]):
        # Refused, yet the very order still works, with no cancel under way: neither ended nor canceled by another
        # hand, so "not asked" would have a halt take its request back while the order stays free to fill.
        raise BrokerUnavailable(
            f"alpaca refused the cancel of order {client_order_id}, which still works with no cancel under way: the "
            "cancel was not made; the next look asks again"
        )
    return CancelAnswer(chain_result(after if after is not None else chain), asked=asked)


def _replaced_since(deleted: Any, latest: Any) -> bool:
    """Whether a DELETE of `deleted` Alpaca refused met a replace, under way (`latest` is being replaced) or landed
    since (`latest` another order, working with no cancel under way): the order working in the plan's order's place was
    never asked to cancel. Read as ended or canceled by another hand ("not asked"), a halt took its request back and
    the replacement, an opening order of a halted account, went on working, free to fill."""
    if being_replaced(latest):
        return True
    return str(latest.id) != str(deleted.id) and is_working(latest) and not canceling(latest)
