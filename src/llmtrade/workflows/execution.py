"""Sending planned orders, shared by the weekly execution stage and the checkpoints' execute stage.

A plan is frozen before it is sent. Each order is sent only if not yet recorded on the orders
stream, so a resumed run never sends an order twice (and the broker refuses a reused
client_order_id anyway). Recovery looks at the broker first: a planned order the broker holds but
the stream does not (the run died between the two) is recorded from the broker's answer before the
plan is compared with the account's positions; a plan that no longer fits is abandoned for that
account alone (PlanAbandoned), and the other accounts still trade. The kill switch and the
circuit breaker are checked before every order (a halted account's orders go only if they reduce
risk, risk/halt.py); before each order that may open or add, the account is valued if any of the plan's
orders filled since its breaker last looked (workflows/fill_watch.py: Alpaca fills after the POST's answer), so a
fill that breaches the breaker stops the plan's remaining opening orders; a halt cancels the queued orders that would
open or add.
Brokers are reached only through the Broker protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import partial

from llmtrade.brokers.fills import look_at
from llmtrade.brokers.protocol import Broker
from llmtrade.brokers.reconcile import look
from llmtrade.config.models import Config
from llmtrade.domain.checkpoints import KILL_SWITCH_BLOCK, OrderBlocked, TradingDisabled
from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.domain.market import Bar, PriceAge
from llmtrade.domain.reconciliation import is_ours
from llmtrade.domain.tracing import for_account
from llmtrade.domain.trading import (
    BrokerOrder,
    LegHeldBack,
    Order,
    OrderRejected,
    OrderResult,
    OrdersPlanned,
    OrderStatus,
    OrderSubmitted,
    PlanAbandoned,
)
from llmtrade.errors import BrokerRejected
from llmtrade.pipeline.context import ContextKey
from llmtrade.risk.controls import halted, switched_off
from llmtrade.risk.halt import may_send
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits
from llmtrade.threads import on_threads
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.ended_close import given_up_orders, leg_note, leg_waiting, orders_sent, still_to_send
from llmtrade.workflows.fill_watch import FillWatch
from llmtrade.workflows.plan_recovery import abandoned_plans, breaker_blocked, misfit, recorded_orders, recover_orders
from llmtrade.workflows.resend_checks import give_up_unsendable, refused_for_good, undone
from llmtrade.workflows.send_checks import pending_at, stale_order, stop_if_blocked
from llmtrade.workflows.valuation import value_account

FILLED = OrderStatus.FILLED
# The prices a plan was made at; execution values accounts at them after each fill.
PRICES = ContextKey("prices", dict[str, float])
# The age of each price of PRICES that is a close of before the last complete session (a quiet symbol's): risk/stale.py.
PRICE_AGES = ContextKey("price_ages", dict[str, PriceAge])
# The last bar of each held symbol without a price in PRICES whose prices ended (market/ended_prices.py), by symbol:
# the valuation after a fill values it there, as the week start, status and the postmortem do, where it took its cost.
LAST_CLOSES = ContextKey("last_closes", dict[str, Bar])
# Plans not sent because they no longer fit the account (this run's or an earlier one's): a degraded run.
ABANDONED = ContextKey("abandoned_plans", list[PlanAbandoned])
# Orders refused by the broker, one line each: a degraded run (held-back legs are not: legs.held_back_notes).
UNFINISHED = ContextKey("unfinished_orders", list[str])


def queued_order_ids(desk: Desk, orders: Sequence[BrokerOrder] | None = None) -> list[str]:
    """llmtrade's orders the account's broker accepted but has not filled (e.g. queued for the open), one whose cancel
    is under way included (it may fill yet: risk/halt.py `PendingPosition`); an order made by hand is reconciliation's
    business (an `unknown_order` difference), not a reason to wait. Nor is one the broker is done with for the day
    (`BrokerOrder.done_for_day`): it cannot fill before it ends, so waiting held the account's week until Alpaca
    expired it; it is still there, so it is never sent again (its id is recorded sent, and a POST finds it).
    `orders`: the broker's open orders as the caller just read them; default: read now."""
    listed = desk.broker.open_orders() if orders is None else orders
    return [o.client_order_id for o in listed if is_ours(o.client_order_id) and not o.done_for_day]


def revaluer(
    events: EventStore,
    desk: Desk,
    config: Config,
    prices: Mapping[str, float],
    *,
    week_id: date,
    run_id: str,
    last_closes: Mapping[str, Bar] | None = None,
) -> Callable[[], None]:
    """What runs after a fill: value the account, so its breaker sees the trade before the next order. `last_closes`
    (LAST_CLOSES): the last bar of each held symbol whose prices ended, valued there, not at its cost."""

    def revalue() -> None:
        broker = desk.broker
        # One look at the broker's account, orders and fills serves the reconciliation and the valuation (as a
        # checkpoint's does): taken twice, each read of the book cost a round trip between two orders.
        account, observed = look_at(broker, prices)
        managed = look(events, broker, account, prices, observed=observed).managed  # only what it manages
        value_account(
            events,
            desk,
            managed,
            config,
            occasion="after fill",
            week_id=week_id,
            run_id=run_id,
            observed=observed,
            last_closes=last_closes,
        )

    return revalue


@dataclass(frozen=True)
class Sent:
    """What `send_orders` left undone: orders the kill switch blocked, legs held back, orders refused (to be sent
    again), and orders abandoned: legs whose close ended without filling whole (workflows/ended_close.py), orders
    refused for the week (`refused_for_good`)."""

    blocked: int
    held_back: list[LegHeldBack]
    refused: list[OrderRejected]
    abandoned: list[PlanAbandoned] = field(default_factory=list)


def send_orders(
    events: EventStore,
    broker: Broker,
    orders: list[Order],
    *,
    stream: str,
    week_id: date,
    run_id: str,
    after_fill: Callable[[], None] | None = None,
    ages: Mapping[str, PriceAge] | None = None,
) -> Sent:
    """Send each order not yet accepted on `stream`; the kill switch is checked before every order.

    A side change's opening leg goes only once its close (the plan's earlier close of the same symbol) has filled;
    until then it is held back (LegHeldBack, once) for a rerun or the next checkpoint, so the broker never holds
    both legs at once; a close the broker ended unfilled, or one an earlier run gave up, abandons it (ended_close.py).
    An order the broker refused (OrderRejected, with its reason) is sent again by the next call, unless the broker
    said the refusal lasts the week (`lasting`: not tradable, not shortable): that one is given up alone with it
    (PlanAbandoned, `refused_for_good`), once. One that opens or adds while its price is a close more than 2 sessions
    old (`ages`: PRICE_AGES) is given up alone too (send_checks.py), a leg once its close filled. Returns what was
    left undone; the kill switch's blocks are recorded as OrderBlocked and left to a rerun.

    An order is recorded right after the broker answers; if the process dies in between, the rerun
    submits the same client_order_id again and the broker hands back the order it already has."""
    history = events.read_stream(stream)
    # The week's orders stream is read by every send: each event parsed once per process (events.payload).
    recorded = [events.payload(OrderSubmitted, e).order for e in history if e.type == OrderSubmitted.event_type()]
    done = {o.client_order_id for o in recorded}
    # Each order as sent, and when: a leg goes only once its close filled exactly its shares, in those of the splits
    # recorded since it was sent (ended_close.py).
    sent_for = orders_sent(events, history, orders)
    held = {
        events.payload(LegHeldBack, e).order.client_order_id: events.payload(LegHeldBack, e)
        for e in history
        if e.type == LegHeldBack.event_type()
    }
    given_up = given_up_orders(events, history)  # an earlier run's: a leg waiting for one of them waits for good
    # Blocked by the breaker, by an earlier run of the plan: final (plan_recovery.py `breaker_blocked`), not checked
    # again (another OrderBlocked at every rerun) nor sent once the halt is lifted, at a price it was not decided at.
    stopped = breaker_blocked(events, history)
    # Each order's last block by the kill switch (its event id): one blocked after the switch in force was turned off
    # is blocked for the same cause, recorded once. A held account's planned week keeps the weekly run due while the
    # switch is off (week_holds.py `held_plans_unsent`), and each wake-up's rerun recorded another OrderBlocked.
    switch_blocks = {
        events.payload(OrderBlocked, e).client_order_id: e.id
        for e in history
        if e.type == OrderBlocked.event_type() and events.payload(OrderBlocked, e).reason.startswith(KILL_SWITCH_BLOCK)
    }
    closes: dict[str, str] = {}  # symbol -> the client_order_id of the latest close of it in `orders`

    def record(payload: EventPayload, order: Order) -> None:
        events.append(
            [NewEvent.of(payload, stream=stream, week_id=week_id, run_id=run_id, account_id=order.account_id)]
        )

    result = Sent(blocked=0, held_back=[], refused=[])
    watch = FillWatch(broker, after_fill, [o.client_order_id for o in orders if o.client_order_id in done])
    blocked = 0
    for order in orders:
        waiting_for = closes.get(order.symbol) if order.intent == "open" else None
        if waiting_for is None and order.client_order_id in held:
            waiting_for = held[order.client_order_id].waiting_for
        if order.intent == "close":
            closes[order.symbol] = order.client_order_id
        if order.client_order_id in done or order.client_order_id in given_up or order.client_order_id in stopped:
            continue  # sent by an earlier (interrupted) run, given up or blocked by the breaker by one
        if waiting_for is not None:
            close, gone = leg_waiting(
                broker, order, waiting_for, given_up, sent_for.get(waiting_for), partial(recorded_splits, events)
            )
            if gone is not None:  # its close will never fill: the account is not flat, the leg must not go
                record(gone, order)
                result.abandoned.append(gone)
                continue
            if close is None or close.status is not FILLED:
                pending = held.get(order.client_order_id) or LegHeldBack(order=order, waiting_for=waiting_for)
                if order.client_order_id not in held:
                    record(pending, order)
                result.held_back.append(pending)
                continue
            watch.found(close)  # filled after its POST's answer (Alpaca's way): the breaker sees it before the leg
        if ages and (gone := stale_order(broker, order, ages.get(order.symbol))) is not None:
            record(gone, order)  # sized when planned off a price that has gone stale since: not sent as sized
            result.abandoned.append(gone)
            continue
        watch.before(order)  # an order that may open or add goes only once the breaker has seen every fill so far
        switched = switched_off(events)
        stop, halt_reason = halted(events, order.account_id)
        payload: EventPayload
        if switched is not None:
            blocked += 1
            if switch_blocks.get(order.client_order_id, 0) > switched.id:
                continue  # blocked for this switch-off already, by an earlier run: it waits as it did (KillSwitchOn)
            why = TradingDisabled.from_event(switched).reason
            payload = OrderBlocked(
                client_order_id=order.client_order_id, account_id=order.account_id, reason=f"{KILL_SWITCH_BLOCK}{why}"
            )
        elif stop and not may_send(order, pending_at(broker, order.symbol)):
            # Halted (maybe by this plan's own closing trade): only what reduces risk still goes.
            payload = OrderBlocked(
                client_order_id=order.client_order_id,
                account_id=order.account_id,
                reason=f"circuit breaker: {halt_reason}; a halted account may only reduce or close",
            )
        else:
            payload = _send(broker, order)
        if isinstance(payload, OrderRejected) and payload.lasting:
            # Refused for the week (not tradable, not shortable): given up with its refusal, said once, never resent;
            # a leg of this plan waiting for it is given up with it below (`given_up`).
            gone = refused_for_good(payload, broker.account({}).positions)
            events.append(
                [
                    NewEvent.of(p, stream=stream, week_id=week_id, run_id=run_id, account_id=order.account_id)
                    for p in (payload, gone)
                ]
            )
            given_up[order.client_order_id] = gone
            result.abandoned.append(gone)
            continue
        record(payload, order)
        if isinstance(payload, OrderRejected):
            result.refused.append(payload)
        if isinstance(payload, OrderSubmitted):
            watch.sent(payload.result)
    return Sent(blocked=blocked, held_back=result.held_back, refused=result.refused, abandoned=result.abandoned)


def unfinished_note(item: LegHeldBack | OrderRejected) -> str:
    """The one line a person reads about an order left undone, and what happens to it next."""
    order = item.order
    what = f"account {order.account_id}'s {order.intent} {order.side.value} {order.qty} {order.symbol}"
    if isinstance(item, LegHeldBack):
        return f"{what} held back until its close {item.waiting_for} fills; a rerun or the next checkpoint sends it"
    return (
        f"{what} refused by {item.broker}: {item.reason}; a rerun or the next checkpoint retries it while it is still "
        "valid for what the account holds"
    )


@dataclass(frozen=True)
class Execution:
    """What `execute_plans` did: whether every order had been recorded by an earlier run, and the
    plans abandoned (now or by an earlier run), which make the run degraded."""

    already_sent: bool
    abandoned: list[PlanAbandoned]
    unfinished: list[str]  # unfinished_note of each order refused in this call (held-back legs are not)


def execute_plan(
    events: EventStore,
    desk: Desk,
    plan: OrdersPlanned,
    config: Config,
    prices: Mapping[str, float],
    *,
    stream: str,
    week_id: date,
    run_id: str,
    last_closes: Mapping[str, Bar] | None = None,
    ages: Mapping[str, PriceAge] | None = None,
) -> tuple[Sent, PlanAbandoned | None]:
    """One account: look its planned orders up at the broker, then check the plan, then send the rest; valued after
    each fill at `prices` and `last_closes` (`revaluer`).

    Returns (what `send_orders` left undone, the plan's abandonment if it was abandoned now)."""
    after_fill = revaluer(events, desk, config, prices, week_id=week_id, run_id=run_id, last_closes=last_closes)
    recorded = recorded_orders(events, stream)
    # A refused order is asked too: its retry by a run killed between the broker's answer and its record went, and
    # judged as still refused, a close the broker had filled was given up for the position it had closed, its leg too.
    sent = [r for r in recorded if isinstance(r, OrderSubmitted)]
    recovered = recover_orders(events, desk.broker, plan, stream=stream, week_id=week_id, run_id=run_id, recorded=sent)
    if any(r.result.status is OrderStatus.FILLED for r in recovered):
        after_fill()  # the recovered fills reach the audit log and the breaker before anything is sent
    # What the stream holds of this plan now: what was recorded before, and what recovery just recorded.
    abandoned = misfit(events, plan, desk.broker, [*recorded, *recovered])
    if abandoned is not None:
        events.append(
            [NewEvent.of(abandoned, stream=stream, week_id=week_id, run_id=run_id, account_id=plan.account_id)]
        )
        return Sent(0, [], []), abandoned
    # Orders an earlier run of the plan had refused go again only while they still do what the plan meant, as at a
    # checkpoint (legs.py): `misfit` no longer checks the positions once any of its orders is on record.
    gone: list[PlanAbandoned] = []
    left = undone(events, stream)  # recovery's records included; an order given up earlier was said then
    if retried := [o for o in plan.orders if isinstance(left.get(o.client_order_id), OrderRejected)]:
        positions = desk.broker.account(prices).positions
        gone = give_up_unsendable(events, plan, retried, positions, stream=stream, week_id=week_id, run_id=run_id)
    sent = send_orders(
        events,
        desk.broker,
        plan.orders,
        stream=stream,
        week_id=week_id,
        run_id=run_id,
        after_fill=after_fill,
        ages=ages,
    )
    return replace(sent, abandoned=[*gone, *sent.abandoned]), None


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
    last_closes: Mapping[str, Bar] | None = None,
    ages: Mapping[str, PriceAge] | None = None,
) -> Execution:
    """Send every plan not abandoned, accounts in parallel; raise if the kill switch held any order back. Each account
    is valued after a fill at `prices` and `last_closes` (`revaluer`).

    Accounts are independent: one account's plan that no longer fits is abandoned (a PlanAbandoned
    event on `stream`, once) and the others still trade. A plan abandoned by an earlier run is
    reported again and never sent."""
    plans = [p for p in plans if p.orders]
    earlier = abandoned_plans(events, stream)
    live = still_to_send(plans, earlier)
    records = recorded_orders(events, stream)
    recorded = {r.order.client_order_id for r in records if isinstance(r, OrderSubmitted)}
    recorded |= {cid for a in earlier for cid in a.client_order_ids}  # given up alone: never sent, nothing to do
    already = bool(plans) and all(o.client_order_id in recorded for p in live for o in p.orders)
    # Brokers are synchronous clients: their round trips overlap on threads, none left sending behind a stop.
    outcomes = await on_threads(
        [
            partial(
                for_account(plan.account_id, execute_plan),
                events,
                desks[plan.account_id],
                plan,
                config,
                prices,
                stream=stream,
                week_id=week_id,
                run_id=run_id,
                last_closes=last_closes,
                ages=ages,
            )
            for plan in live
        ]
    )
    stop_if_blocked(events, sum(sent.blocked for sent, _ in outcomes))
    ours = {o.client_order_id for p in plans for o in p.orders}
    # An order refused for the week was said by the run that was refused (send_orders): a rerun says it no more.
    lasting = {r.order.client_order_id for r in records if isinstance(r, OrderRejected) and r.lasting}
    mine = [a for a in earlier if set(a.client_order_ids) & ours and not set(a.client_order_ids) <= lasting]
    notes = [unfinished_note(item) for sent, _ in outcomes for item in sent.refused]
    now = [a for _, a in outcomes if a is not None] + [a for sent, _ in outcomes for a in sent.abandoned]
    return Execution(already_sent=already, abandoned=mine + now, unfinished=notes)


def abandonment_note(abandoned: PlanAbandoned) -> str:
    """The one line a person reads: which account, why, and what to do."""
    if not abandoned.whole_plan:
        return leg_note(abandoned)
    return (
        f"account {abandoned.account_id}'s plan abandoned: {abandoned.reason}. Its orders will not be sent; "
        "check the account at its broker (the next week plans from what it holds)"
    )


def _send(broker: Broker, order: Order) -> OrderSubmitted | OrderRejected:
    try:
        result: OrderResult = broker.submit(order)
    except BrokerRejected as exc:
        return OrderRejected(order=order, broker=broker.name, reason=str(exc), lasting=exc.lasting)
    return OrderSubmitted(order=order, broker=broker.name, result=result)
