"""Sending planned orders, shared by the weekly execution stage and the checkpoints' execute stage.

A plan is frozen before it is sent. Each order is sent only if not yet recorded on the orders
stream, so a resumed run never sends an order twice (and the broker refuses a reused
client_order_id anyway). The kill switch and the circuit breaker are checked before every order
(a halted account's orders go only if they reduce risk, risk/halt.py), and after every fill the
account is valued so its breaker sees the trade before the next order; a halt cancels the queued
orders that would open or add.
Brokers are reached only through the Broker protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import date

from llmtrade.brokers.fills import observe, record_new_fills, record_valuation
from llmtrade.brokers.protocol import Broker
from llmtrade.config.models import Config
from llmtrade.domain.checkpoints import OrderBlocked
from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.domain.trading import (
    AccountSnapshot,
    Order,
    OrderRejected,
    OrderResult,
    OrdersPlanned,
    OrderStatus,
    OrderSubmitted,
)
from llmtrade.errors import BrokerRejected, OperationalError
from llmtrade.pipeline.context import ContextKey
from llmtrade.risk.controls import cancel_opening_orders, evaluate_breaker, halted, trading_enabled
from llmtrade.risk.halt import may_send, pending_position
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.desk import Desk

# The prices a plan was made at; execution values accounts at them after each fill.
PRICES = ContextKey("prices", dict[str, float])


def queued_order_ids(desk: Desk) -> list[str]:
    """Orders the account's broker accepted but has not filled (e.g. queued for the open)."""
    return [order.client_order_id for order in desk.broker.open_orders()]


def value_account(
    events: EventStore,
    desk: Desk,
    account: AccountSnapshot,
    config: Config,
    *,
    occasion: str,
    week_id: date,
    run_id: str,
) -> None:
    """Record the account's equity and its new fills, and let its circuit breaker see both.

    Broker reads write nothing, so this (a write path: week start, checkpoints, after each fill) is
    where the broker's fills reach the audit log, once per order."""
    observed = observe(desk.broker)  # one look at the broker serves the audit log and the breaker
    record_new_fills(events, desk.broker, week_id=week_id, run_id=run_id, observed=observed)
    record_valuation(events, account, occasion=occasion, week_id=week_id, run_id=run_id)  # once per occasion
    state = evaluate_breaker(
        events,
        account.account_id,
        starting_equity=desk.account.starting_cash,
        equity=account.equity,
        fills=observed.fills,
        config=config.risk.circuit_breaker,
        week_id=week_id,
        run_id=run_id,
    )
    if state.halted:
        cancel_opening_orders(events, desk.broker, account.positions, state.reason, week_id=week_id, run_id=run_id)


def revaluer(
    events: EventStore, desk: Desk, config: Config, prices: Mapping[str, float], *, week_id: date, run_id: str
) -> Callable[[], None]:
    """What runs after a fill: value the account, so its breaker sees the trade before the next order."""

    def revalue() -> None:
        value_account(
            events, desk, desk.broker.account(prices), config, occasion="after fill", week_id=week_id, run_id=run_id
        )

    return revalue


def recorded_orders(events: EventStore, stream: str) -> list[OrderSubmitted | OrderRejected]:
    return [
        OrderSubmitted.from_event(e) if e.type == OrderSubmitted.event_type() else OrderRejected.from_event(e)
        for e in events.read_stream(stream)
        if e.type in (OrderSubmitted.event_type(), OrderRejected.event_type())
    ]


def require_plan_still_fits(
    plan: OrdersPlanned, broker: Broker, recorded: list[OrderSubmitted | OrderRejected]
) -> None:
    """Send a frozen plan only to the broker it was made for, and only while the account holds what
    the plan was computed from: a plan sent against other positions would trade outside the gate."""
    if not plan.orders:
        return
    if broker.name != plan.broker:
        raise OperationalError(
            f"account {plan.account_id}'s orders were planned for the {plan.broker} broker, but it now uses "
            f"{broker.name}; nothing sent"
        )
    sent = {r.order.client_order_id for r in recorded}
    if any(o.client_order_id in sent for o in plan.orders):
        return  # resuming a plan part-sent: its own orders may already have moved the positions
    # Ask the broker before assuming: a run that died after the broker took an order but before it
    # was recorded left that order to fill, and its fill is the "change" a positions check would see.
    # Resent under the same client_order_id, the broker hands back the order it already has.
    if any(broker.find(o.client_order_id) is not None for o in plan.orders):
        return
    now = {s: p.qty for s, p in broker.account({}).positions.items() if p.qty}
    then = {s: p.qty for s, p in plan.positions_before.items() if p.qty}
    if now != then:
        raise OperationalError(
            f"account {plan.account_id}'s positions changed since its orders were planned "
            f"(planned from {then or 'nothing'}, now {now or 'nothing'}); nothing sent"
        )


def send_orders(
    events: EventStore,
    broker: Broker,
    orders: list[Order],
    *,
    stream: str,
    week_id: date,
    run_id: str,
    after_fill: Callable[[], None] | None = None,
) -> int:
    """Send each order not yet recorded on `stream`; the kill switch is checked before every order.
    Returns how many orders the kill switch blocked (recorded as OrderBlocked, left to a rerun).

    An order is recorded right after the broker answers; if the process dies in between, the rerun
    submits the same client_order_id again and the broker hands back the order it already has."""
    done = {o.order.client_order_id for o in recorded_orders(events, stream)}
    blocked = 0
    for order in orders:
        if order.client_order_id in done:
            continue  # sent by an earlier (interrupted) run
        enabled, why = trading_enabled(events)
        stop, halt_reason = halted(events, order.account_id)
        payload: EventPayload
        if not enabled:
            blocked += 1
            payload = OrderBlocked(
                client_order_id=order.client_order_id, account_id=order.account_id, reason=f"kill switch: {why}"
            )
        elif stop and not may_send(order, _pending(broker, order.symbol)):
            # Halted (maybe by this plan's own closing trade): only what reduces risk still goes.
            payload = OrderBlocked(
                client_order_id=order.client_order_id,
                account_id=order.account_id,
                reason=f"circuit breaker: {halt_reason}; a halted account may only reduce or close",
            )
        else:
            payload = _send(broker, order)
        events.append(
            [NewEvent.of(payload, stream=stream, week_id=week_id, run_id=run_id, account_id=order.account_id)]
        )
        if (
            after_fill is not None
            and isinstance(payload, OrderSubmitted)
            and payload.result.status is OrderStatus.FILLED
        ):
            after_fill()  # lets the breaker see the fill before the next order
    return blocked


async def execute_plans(
    events: EventStore,
    desks: Mapping[str, Desk],
    plans: Sequence[OrdersPlanned],
    config: Config,
    prices: Mapping[str, float],
    *,
    stream: str,
    week_id: date,
    run_id: str,
) -> bool:
    """Check every plan, then send them (accounts in parallel); raise if the kill switch held any back.
    Returns True when there were orders and an earlier run had recorded every one (nothing new to send),
    which is how a resumed stage knows it loaded rather than ran.

    Every check comes before any order goes out, so one account's stale plan stops them all."""
    plans = [p for p in plans if p.orders]
    ours = {order.client_order_id for plan in plans for order in plan.orders}
    already = ours <= {r.order.client_order_id for r in recorded_orders(events, stream)}
    for plan in plans:
        require_plan_still_fits(plan, desks[plan.account_id].broker, recorded_orders(events, stream))
    # Accounts are independent: their brokers' round trips overlap (brokers are synchronous clients).
    blocked = await asyncio.gather(
        *(
            asyncio.to_thread(
                send_orders,
                events,
                desks[plan.account_id].broker,
                plan.orders,
                stream=stream,
                week_id=week_id,
                run_id=run_id,
                after_fill=revaluer(events, desks[plan.account_id], config, prices, week_id=week_id, run_id=run_id),
            )
            for plan in plans
        )
    )
    stop_if_blocked(events, sum(blocked))
    return bool(ours) and already


def stop_if_blocked(events: EventStore, blocked: int) -> None:
    if blocked:
        _, why = trading_enabled(events)
        raise OperationalError(
            f"trading is disabled ({why}): {blocked} order(s) not sent. "
            "`llmtrade trading enable`, then run the same command again to send them"
        )


def _pending(broker: Broker, symbol: str) -> int:
    """The account's signed position in `symbol` once the orders it has queued at the broker fill."""
    return pending_position(broker.account({}).positions, broker.open_orders(), symbol)


def _send(broker: Broker, order: Order) -> OrderSubmitted | OrderRejected:
    try:
        result: OrderResult = broker.submit(order)
    except BrokerRejected as exc:
        return OrderRejected(order=order, broker=broker.name, reason=str(exc))
    return OrderSubmitted(order=order, broker=broker.name, result=result)
