"""A halted account's cancels at its broker: the queued orders that would open or add (`cancel_opening_orders`), and
what became of each cancel, recorded on the account's breaker stream so that the order's end, when it comes, is
credited to the halt or to the broker rightly (brokers/order_ends.py `_breakers_cancel` reads it).

The breaker says which order it cancels (BreakerCancelRequested) before its cancel reaches a broker that does not
record its own ends (Alpaca), and says after it what came of it: the broker took it (BreakerCancelTaken: the order's
end, whenever it comes, is the halt's, even after a resume), it was not made (BreakerCancelFailed: an end found later is
the broker's), or the order's end itself (QueuedOrderCanceled). A process killed between the request and that second
record left the request unanswered, and a resume took it back as a cancel never made: a cancel Alpaca had taken and
held pending_cancel until the open was then recorded, when it came, as Alpaca's own end ("the trade did not happen",
the halt named nowhere). So before the breaker's next change is worked out (a resume among them), each request left
unanswered is settled from the order as the broker has it (`settle_unanswered`): with a cancel under way, or canceled,
the cancel was taken; still working with none under way, or ended otherwise, it was not made (the halt, if it still
holds, asks again).

What cannot be told apart: a process killed before its DELETE and a cancel made by hand before the settling look both
leave the order canceling or canceled, and the end is then credited to the halt that asked first. A resume by hand
(`resume_by_hand`, app/breaker_reset.py) settles the requests first too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from llmtrade.brokers.protocol import Broker, CancelAnswer
from llmtrade.domain.breaker import BreakerCancelFailed, BreakerCancelRequested, BreakerCancelTaken, BreakerState
from llmtrade.domain.events import EventPayload, NewEvent, StoredEvent
from llmtrade.domain.streams import breaker_stream, fill_stream
from llmtrade.domain.trading import BrokerOrder, OrderStatus, Position, QueuedOrderCanceled
from llmtrade.errors import ConcurrencyError, LlmtradeError
from llmtrade.risk.controls import reset_breaker
from llmtrade.risk.halt import opening_orders
from llmtrade.storage.event_store import EventStore

_ENDED = (OrderStatus.CANCELED, OrderStatus.REJECTED)  # a cancel's answer when it ended the order

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


def resume_by_hand(
    events: EventStore, broker: Broker, account_id: str, *, starting_equity: float, equity: float
) -> BreakerState:
    """Resume the halted account by hand (risk/controls.py `reset_breaker`: its peak restarted at `equity`), after
    settling the breaker cancel requests a killed process left unanswered from its orders as `broker` has them now:
    the resume takes back only the requests never made, and a cancel the broker took (Alpaca's pending_cancel until
    the open) stays the halt's when it ends the order. Raises what the broker's reads raise, before anything is
    recorded."""
    settle_unanswered(events, broker, broker.open_orders(), week_id=None, run_id=None)
    return reset_breaker(events, account_id, starting_equity=starting_equity, equity=equity)


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


def cancel_opening_orders(
    events: EventStore,
    broker: Broker,
    positions: Mapping[str, Position],
    reason: str,
    *,
    week_id: date | None,
    run_id: str | None,
) -> list[QueuedOrderCanceled]:
    """Cancel the halted account's queued orders that would open or add (risk/halt.py `opening_orders`). Closes
    queued ahead of them stay queued.

    An order the cancel ended is recorded on its own write-once fill stream, after its fill if part filled: the
    stream and version brokers/order_ends.py records a broker's end at, so the one end is recorded once, by whichever
    writer comes first (another process's record_order_ends between the cancel and this write saw it canceled; two
    records said it twice). One the cancel did not end (too late: filled; unknown to the broker), and one whose part
    fill is not recorded yet (no slot after it to take), is recorded on the breaker stream. One still working, its
    cancel under way (Alpaca's pending_cancel, for seconds or until the next open), is not recorded now, nor asked to
    cancel again by a later look of the halt (`BrokerOrder.canceling`): brokers/order_ends.py records its end when it
    comes, with the breaker's reason (BreakerCancelTaken: even after a resume), and brokers/fills.py its fill if it
    fills first. At a broker that does not record its own ends, each cancel is announced first (BreakerCancelRequested,
    on the breaker stream), so the other writer, when it comes first, records the breaker's reason too (it recorded the
    broker's end, the halt named nowhere); a cancel the broker failed takes its request back (BreakerCancelFailed)
    before the error is raised, so an end found later (the order canceled by hand after that error) is recorded as the
    broker's, not the halt's. A cancel the broker did not ask for (`CancelAnswer.asked`: the order found ended, or its
    cancel under way, by another hand between the listing and the broker's look, or ended before its DELETE: Alpaca's
    422) takes its request back the same way, with "not asked": the end is the broker's. A cancel by hand that lands
    between the broker's look and its DELETE and leaves the order pending_cancel cannot be told from the breaker's own
    (both were asked; Alpaca does not say whose took): it stays the halt's. A failed cancel does not stop the loop:
    every order is asked, then the first error is raised (the job stops as before), so the account's later opening
    orders are not left working until a later look."""
    canceled: list[QueuedOrderCanceled] = []
    because = f"circuit breaker: {reason}; a halted account may not open or add"
    account = broker.account_id

    def said(payload: EventPayload) -> None:  # on the account's breaker stream
        events.append(
            [NewEvent.of(payload, stream=breaker_stream(account), account_id=account, week_id=week_id, run_id=run_id)]
        )

    failed: LlmtradeError | None = None  # the first cancel the broker failed, raised once every order was asked
    # An order whose cancel is under way (asked by an earlier look of this halt, or by hand) is not listed: asked once.
    asked: set[str] = set()
    for leg_or_order in opening_orders(positions, broker.open_orders()):
        # A leg of a spread placed by hand is canceled as the broker cancels it: the whole spread, by its parent's id
        # (Alpaca cancels no leg by its own), once however many of its legs open.
        order = leg_or_order.model_copy(update={"client_order_id": leg_or_order.parent or leg_or_order.client_order_id})
        if order.client_order_id in asked:
            continue
        asked.add(order.client_order_id)
        if not broker.records_own_ends:
            # Said before the cancel: another process's order_ends that finds the order canceled before this one
            # records it then records the breaker's reason, not an end at the broker.
            said(BreakerCancelRequested(account_id=account, client_order_id=order.client_order_id, reason=because))
        try:
            answer = broker.cancel(order.client_order_id)
        except LlmtradeError as exc:
            if not broker.records_own_ends:
                # The request was not made: an end found later (canceled by hand once this error was read) is the
                # broker's, not the halt's; the next look at the halted account asks again if it is still working.
                said(BreakerCancelFailed(account_id=account, client_order_id=order.client_order_id, reason=str(exc)))
            # The account's later opening orders are still asked now: raising here left them working (free to fill)
            # until a later job's look. The job still stops on the failure, raised after the loop.
            failed = failed or exc
            continue
        result = None if answer is None else answer.result
        if answer is not None and not broker.records_own_ends and (gone := _not_asked(answer)):
            # Ended, or its cancel under way, by another hand between the listing above and the broker's look (a
            # cancel by hand, Alpaca's own end): no cancel was made, and the end is not the halt's (it was recorded
            # with the halt's reason, or taken as the halt's: BreakerCancelTaken). The request is taken back;
            # brokers/order_ends.py records the end as the broker's.
            said(BreakerCancelFailed(account_id=account, client_order_id=order.client_order_id, reason=gone))
            continue
        why = QueuedOrderCanceled(
            account_id=broker.account_id,
            client_order_id=order.client_order_id,
            reason=because,
            status=None if result is None else result.status,
        )
        canceled.append(why)
        if result is not None and result.status is OrderStatus.ACCEPTED and not broker.records_own_ends:
            # Still working, its cancel under way (Alpaca's pending_cancel): nothing ended yet. Its end is recorded
            # when it comes, with this halt's reason (order_ends reads the request, taken: a resume before the end no
            # longer takes it back), or its fill if it fills first.
            said(BreakerCancelTaken(account_id=account, client_order_id=order.client_order_id))
            continue
        if result is None or result.status not in _ENDED:
            stream, expected = breaker_stream(broker.account_id), None
        else:
            stream = fill_stream(broker.account_id, order.client_order_id)
            expected = {stream: 1 if result.filled_qty else 0}
        event = NewEvent.of(why, stream=stream, account_id=broker.account_id, week_id=week_id, run_id=run_id)
        try:
            events.append([event], expected_versions=expected)
        except ConcurrencyError:
            if any(e.type == QueuedOrderCanceled.event_type() for e in events.read_stream(stream)):
                continue  # its end is recorded already (another process's order_ends): once is enough
            # Its part fill is not recorded yet (a working order's fill waits for its end: brokers/fills.py), so the
            # slot after it is not there to take; dropped, order_ends later called the breaker's own cancel "the trade
            # did not happen" (review E2). On the breaker stream, as one the cancel did not end: order_ends reads it.
            moved = event.model_copy(update={"stream": breaker_stream(broker.account_id)})
            events.append([moved])
    if failed is not None:
        raise failed
    return canceled


def _not_asked(answer: CancelAnswer) -> str:
    """Why a cancel the broker did not ask for leaves the order's end to another hand; "" when it was asked, or the
    order filled (a fill is no end to credit: recorded as before, on the breaker stream, as a cancel come too late)."""
    found = answer.result
    if answer.asked or found.status is OrderStatus.FILLED:
        return ""
    state = "with its cancel already under way" if found.status is OrderStatus.ACCEPTED else "ended already"
    return f"not asked: the order was found {state} ({found.message}), by another hand than the breaker's"
