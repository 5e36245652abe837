"""A frozen plan met again by a rerun: the orders the week's stream records (and the plans it gave up), the
orders the broker holds that no record does yet, and whether the plan may still be sent at all.

A run that died between the broker's answer and its record left an order the rerun must ask the broker about, never
send again (`recover_orders`); a plan computed from positions the account no longer holds, or for another broker,
must not go (`misfit`). execution.py sends what is left."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from llmtrade.brokers.protocol import Broker
from llmtrade.brokers.reconcile import managed_positions
from llmtrade.domain.checkpoints import KILL_SWITCH_BLOCK, OrderBlocked
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.trading import OrderRejected, OrdersPlanned, OrderSubmitted, PlanAbandoned
from llmtrade.storage.event_store import EventStore


def recorded_orders(events: EventStore, stream: str) -> list[OrderSubmitted | OrderRejected]:
    return recorded_in(events, events.read_stream(stream))


def recorded_in(events: EventStore, history: Sequence[StoredEvent]) -> list[OrderSubmitted | OrderRejected]:
    """`recorded_orders` of the orders stream `history` as read."""
    return [
        events.payload(OrderSubmitted, e) if e.type == OrderSubmitted.event_type() else events.payload(OrderRejected, e)
        for e in history
        if e.type in (OrderSubmitted.event_type(), OrderRejected.event_type())
    ]


def sent_with_times(events: EventStore, history: Sequence[StoredEvent]) -> list[tuple[OrderSubmitted, datetime]]:
    """Each order the orders stream `history` (as read) records sent, with when it was sent (`OrderSubmitted.sent_at`:
    its record's time, or its broker's for one a rerun recorded late): a split recorded before an order was sent never
    scaled it (brokers/overfills.py `scales`)."""
    kind = OrderSubmitted.event_type()
    found = [(events.payload(OrderSubmitted, e), e.occurred_at) for e in history if e.type == kind]
    return [(sent, sent.sent_at(at)) for sent, at in found]


def breaker_blocked(events: EventStore, history: Sequence[StoredEvent]) -> set[str]:
    """The client order ids the circuit breaker blocked on the orders stream `history` (as read): final for their plan.
    A halt cancels the opening orders it finds queued, and one it blocked before it went is no more the plan's: never
    sent by a rerun of the plan (after a reset, at a price its decision was not made at), never blocked again, nor
    waited for (execution.py `send_orders`, week_holds.py `held_plans_unsent`, checkpoint_unpriced.py `unsent`). The
    kill switch's block is not: `trading enable` lifts it and the command rerun sends the order."""
    kind = OrderBlocked.event_type()
    found = (events.payload(OrderBlocked, e) for e in history if e.type == kind)
    return {b.client_order_id for b in found if not b.reason.startswith(KILL_SWITCH_BLOCK)}


def abandoned_plans(events: EventStore, stream: str) -> list[PlanAbandoned]:
    """Plans an earlier run gave up on (recorded on `stream`): reported again, never sent."""
    return [PlanAbandoned.from_event(e) for e in events.read_stream(stream) if e.type == PlanAbandoned.event_type()]


def recover_orders(
    events: EventStore,
    broker: Broker,
    plan: OrdersPlanned,
    *,
    stream: str,
    week_id: date,
    run_id: str,
    recorded: Sequence[OrderSubmitted | OrderRejected] | None = None,
) -> list[OrderSubmitted]:
    """Record the plan's orders the broker holds but `stream` does not, as the run that sent them would have.

    A run that died after the broker accepted an order and before OrderSubmitted was appended left the
    order at the broker (where it may have filled since); its record is the broker's own answer now.
    Returns the orders recorded here. A plan made for another broker is not looked up (see `misfit`).
    `recorded`: `recorded_orders(events, stream)` as the caller just read it; default: read now."""
    found = recover_order_events(events, broker, plan, stream=stream, week_id=week_id, run_id=run_id, recorded=recorded)
    return [events.payload(OrderSubmitted, e) for e in found]


def recover_order_events(
    events: EventStore,
    broker: Broker,
    plan: OrdersPlanned,
    *,
    stream: str,
    week_id: date,
    run_id: str,
    recorded: Sequence[OrderSubmitted | OrderRejected] | None = None,
) -> list[StoredEvent]:
    """`recover_orders`, its records as stored (with their times: `sent_with_times`)."""
    if broker.name != plan.broker:
        return []
    done = {r.order.client_order_id for r in (recorded_orders(events, stream) if recorded is None else recorded)}
    recovered: list[StoredEvent] = []
    for order in plan.orders:
        if order.client_order_id in done:
            continue
        found = broker.find(order.client_order_id)
        if found is None:
            continue  # never reached the broker: send_orders sends it
        payload = OrderSubmitted(order=order, broker=broker.name, result=found)
        recovered += events.append(
            [NewEvent.of(payload, stream=stream, week_id=week_id, run_id=run_id, account_id=order.account_id)]
        )
    return recovered


def misfit(
    events: EventStore, plan: OrdersPlanned, broker: Broker, recorded: list[OrderSubmitted | OrderRejected]
) -> PlanAbandoned | None:
    """Why a frozen plan must not be sent (checked after `recover_orders`), or None when it may be.

    A plan goes only to the broker it was made for, and only while the account holds what the plan
    was computed from: a plan sent against other positions would trade outside the gate. Once any of
    its orders is recorded, its own orders may have moved the positions, so the check no longer applies."""
    if not plan.orders:
        return None
    ids = [o.client_order_id for o in plan.orders]
    then = {s: p.qty for s, p in plan.positions_before.items() if p.qty}
    if broker.name != plan.broker:
        return PlanAbandoned(
            account_id=plan.account_id,
            broker=plan.broker,
            reason=f"planned for the {plan.broker} broker, but the account now uses {broker.name}",
            client_order_ids=ids,
            planned_positions=then,
            actual_positions={},
        )
    sent = {r.order.client_order_id for r in recorded}
    if any(i in sent for i in ids):
        return None  # resuming a plan part-sent
    now = managed_positions(events, broker)  # a position made by hand is not the plan's business
    if now == then:
        return None
    return PlanAbandoned(
        account_id=plan.account_id,
        broker=plan.broker,
        reason=(
            f"positions changed since its orders were planned (planned from {then or 'nothing'}, "
            f"now {now or 'nothing'}); none of its orders is at the broker, so nothing was sent"
        ),
        client_order_ids=ids,
        planned_positions=then,
        actual_positions=now,
    )
