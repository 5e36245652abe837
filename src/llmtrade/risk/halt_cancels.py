"""The circuit breaker's cancel requests a killed process left unanswered, settled by asking the broker.

The breaker says which order it cancels (BreakerCancelRequested) before its cancel reaches a broker that does not
record its own ends (Alpaca), and says after it what came of it: the broker took it (BreakerCancelTaken: the order's
end, whenever it comes, is the halt's, even after a resume), it was not made (BreakerCancelFailed: an end found later is
the broker's), or the order's end itself (QueuedOrderCanceled). A process killed between the request and that second
record left the request unanswered, and a resume took it back as a cancel never made: a cancel Alpaca had taken and
held pending_cancel until the open was then recorded, when it came, as Alpaca's own end ("the trade did not happen",
the halt named nowhere). So before the breaker's next change is worked out (a resume among them), each request left
unanswered is settled from the order as the broker has it: with a cancel under way, or canceled, the cancel was taken;
still working with none under way, or ended otherwise, it was not made (the halt, if it still holds, asks again).

What cannot be told apart: a process killed before its DELETE and a cancel made by hand before the settling look both
leave the order canceling or canceled, and the end is then credited to the halt that asked first. A resume by hand
(app/breaker_reset.py) made before any valuation has settled the request takes it back as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from llmtrade.brokers.protocol import Broker
from llmtrade.domain.events import EventPayload, NewEvent, StoredEvent
from llmtrade.domain.streams import breaker_stream
from llmtrade.domain.trading import (
    BreakerCancelFailed,
    BreakerCancelRequested,
    BreakerCancelTaken,
    BrokerOrder,
    OrderStatus,
    QueuedOrderCanceled,
)
from llmtrade.storage.event_store import EventStore

_REQUESTED = BreakerCancelRequested.event_type()
# What answers a request: its cancel taken or not made, or the order's end recorded.
_ANSWERS = {
    BreakerCancelTaken.event_type(): BreakerCancelTaken,
    BreakerCancelFailed.event_type(): BreakerCancelFailed,
    QueuedOrderCanceled.event_type(): QueuedOrderCanceled,
}


def unanswered_requests(events: EventStore, account_id: str) -> frozenset[str]:
    """The client order ids of the account's breaker cancel requests nothing has answered yet (see the module
    docstring). A memoised fold of the account's events: a valuation with none costs what is new."""

    def step(open_: frozenset[str], new: list[StoredEvent]) -> frozenset[str]:
        asked = set(open_)
        for event in new:
            if event.type == _REQUESTED:
                asked.add(events.payload(BreakerCancelRequested, event).client_order_id)
            else:
                asked.discard(events.payload(_ANSWERS[event.type], event).client_order_id)
        return frozenset(asked)

    types = [_REQUESTED, *_ANSWERS]
    return events.fold(("breaker-unanswered",), account_id=account_id, types=types, start=frozenset(), step=step)


def settle_unanswered(
    events: EventStore,
    broker: Broker,
    working: Sequence[BrokerOrder],
    *,
    week_id: date | None,
    run_id: str | None,
) -> list[str]:
    """Answer each breaker cancel request of the account's that a killed process left unanswered, from the order as
    `broker` has it (`working`: its open orders, as just listed; an order not among them is looked up). Nothing for a
    broker that records its own ends (its cancels are answered in the same call). The client order ids answered now."""
    if broker.records_own_ends:
        return []
    account = broker.account_id
    open_ = unanswered_requests(events, account)
    if not open_:
        return []
    listed: Mapping[str, BrokerOrder] = {o.client_order_id: o for o in working}
    answered: list[str] = []
    for cid in sorted(open_):
        answer = _answer(broker, cid, listed.get(cid))
        if answer is None:
            continue
        event = NewEvent.of(answer, stream=breaker_stream(account), account_id=account, week_id=week_id, run_id=run_id)
        events.append([event])
        answered.append(cid)
    return answered


def _answer(broker: Broker, cid: str, listed: BrokerOrder | None) -> EventPayload | None:
    account = broker.account_id
    if listed is not None:
        if listed.canceling:
            return BreakerCancelTaken(account_id=account, client_order_id=cid)
        return BreakerCancelFailed(
            account_id=account,
            client_order_id=cid,
            reason="not made: the process that asked it stopped before the broker took it (the order still working)",
        )
    found = broker.find(cid)
    if found is not None and found.status is OrderStatus.CANCELED:
        return BreakerCancelTaken(account_id=account, client_order_id=cid)
    if found is not None and found.status is OrderStatus.ACCEPTED:
        return None  # working again since the listing: the next look settles it
    state = "unknown to the broker" if found is None else found.message
    return BreakerCancelFailed(account_id=account, client_order_id=cid, reason=f"not made: the order was {state}")
