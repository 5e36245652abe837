"""A checkpoint's skip of an account holding a symbol no provider can price in this session (a CSV folder of daily
files only: market/session_prices.py), as checkpoint_prepare.py `_never` finds it and app/checkpoint_run.py says it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from llmtrade.brokers.protocol import Broker
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import OrdersPlanned, OrderSubmitted, PlanAbandoned
from llmtrade.market.session_prices import SESSION_FIX, by_why
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.ended_close import given_up_orders
from llmtrade.workflows.plan_recovery import breaker_blocked, recorded_orders, recover_orders
from llmtrade.workflows.workbench import Workbench

# How an account skipped for a held symbol no provider can price in this session begins (`_never`); the run says them
# in one line (app/checkpoint_run.py), the run degraded.
NO_SESSION_PRICE = "no price in session:"


def no_session_price(never: dict[str, str], *, judged: bool = False) -> str:
    """The skip of an account holding `never` (symbol -> why no provider can price it in this session), or what the
    run says of every such account: what is wrong, what it means and what mends it. `judged`: of an account an
    earlier run judged, whose decision, or orders decided, wait for that price (checkpoint_prepare.py NOT_SENT)."""
    said = "; ".join(f"{', '.join(symbols)}: {why}" for why, symbols in by_why(never).items())
    now = (
        "its judgement is not traded (no order sized or sent at a stale close read as a price of this session, nor "
        "later at another checkpoint's price: one decided and not sent is given up)"
        if judged
        else "not judged now (no stop checked, nothing traded, no stale close read as a price of this session)"
    )
    return (
        f"{NO_SESSION_PRICE} {said}. No wait brings one: {now}; each checkpoint looks again, and one before the open "
        f"judges on the last close. To judge in session, {SESSION_FIX}"
    )


def not_sent(
    bench: Workbench, desk: Desk, plan: OrdersPlanned, never: Callable[[], dict[str, str]], dry_run: bool
) -> dict[str, str]:
    """When `plan` (decided by an earlier run that stopped before sending it all) has orders not sent, and no provider
    can price its instrument (without a price now) in this session: `never`'s answer (checkpoint_prepare.py `_never`),
    the orders not at the broker given up (`unsent_given_up`). {} otherwise: it waits for the price as ever (the decide
    stage, checkpoint_trade.py).

    The account's decision waited for that price, exit 75 at every wake-up to the deadline, as the accounts not judged
    yet did before `_never` (a killed run's trial, a CSV folder of daily files only). Not sent at the last daily close,
    a price of yesterday's session; nor later, at a price its decision was not made at."""
    stream = week_stream(bench.week_id, ORDERS)
    if not unsent(bench.events, plan, stream):
        return {}
    found = never()
    if found and not dry_run:
        why = no_session_price(found, judged=True)
        unsent_given_up(bench.events, desk.broker, plan, why, stream=stream, week_id=bench.week_id, run_id=bench.run_id)
    return found


def unsent(events: EventStore, plan: OrdersPlanned, stream: str) -> list[str]:
    """The client order ids of `plan`'s orders neither sent (OrderSubmitted on the orders `stream`), nor given up, nor
    blocked by the breaker there.
    One the broker refused is not sent: a refusal is sent again (legs.py `resume_unfinished`), so it is given up with
    its plan (`unsent_given_up`), where it was left out and the next checkpoint sent it at a price its decision was not
    made at."""
    history = events.read_stream(stream)
    kind = OrderSubmitted.event_type()
    sent = {events.payload(OrderSubmitted, e).order.client_order_id for e in history if e.type == kind}
    # One the breaker blocked is final (plan_recovery.py `breaker_blocked`): no rerun sends it, so nothing waits for it.
    done = sent | given_up_orders(events, history).keys() | breaker_blocked(events, history)
    return [o.client_order_id for o in plan.orders if o.client_order_id not in done]


def _submitted(events: EventStore, stream: str) -> list[OrderSubmitted]:
    return [r for r in recorded_orders(events, stream) if isinstance(r, OrderSubmitted)]


def unsent_given_up(
    events: EventStore, broker: Broker, plan: OrdersPlanned, why: str, *, stream: str, week_id: date, run_id: str
) -> None:
    """Give up the orders of `plan` (decided by a run that stopped before sending them all) that its instrument's
    missing price in this session keeps from being sent: `why`, a `no_session_price` of it.

    The broker is asked first (`recover_orders`): an order the stopped run got to it went, and is recorded from its
    answer, not given up. The others are given up (PlanAbandoned: the whole plan when none of it went, else those
    alone, an order of it sent staying), once, so that nothing sends them later: a repeat of the checkpoint that finds
    a price would send them at a price its decision was not made at, beside what the next checkpoint decides at its
    own (a second exit)."""
    if broker.name == plan.broker:  # another broker's orders are not looked up (plan_recovery.py `misfit`)
        # A refused order is asked too: a retry of it killed between the broker's answer and its record went.
        sent = _submitted(events, stream)
        recover_orders(events, broker, plan, stream=stream, week_id=week_id, run_id=run_id, recorded=sent)
    left = unsent(events, plan, stream)
    if not left:
        return
    gone = PlanAbandoned(
        account_id=plan.account_id,
        broker=plan.broker,
        reason=why,
        client_order_ids=left,
        planned_positions={s: p.qty for s, p in plan.positions_before.items() if p.qty},
        actual_positions={s: p.qty for s, p in broker.account({}).positions.items() if p.qty},
        whole_plan=len(left) == len(plan.orders),
    )
    events.append([NewEvent.of(gone, stream=stream, week_id=week_id, run_id=run_id, account_id=plan.account_id)])


@dataclass(frozen=True)
class NoSessionPrice:
    why: str  # the skip: `no_session_price`
    symbols: dict[str, str]  # the held symbols no provider can price in this session, and why
