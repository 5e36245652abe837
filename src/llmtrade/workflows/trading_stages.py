"""The risk gate and execution stages of the weekly run, over every account.

Risk: each account's owner has an intent (a PM's own pitch, the chairman's decision; the FLAT
baseline has none and never trades). The gate sizes it against the account as it will be after
the week roll, and the resulting orders are planned and frozen on the week's risk stream.
Execution: the frozen plan is sent, order by order, skipping any order already recorded, so a
resumed run never sends an order twice (and the broker refuses a reused client_order_id anyway).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

from llmtrade.brokers.order_plan import plan_orders
from llmtrade.brokers.paper import PaperBroker
from llmtrade.brokers.protocol import Broker
from llmtrade.config.models import Account, AccountRole, Config
from llmtrade.domain.checkpoints import AccountValued, OrderBlocked
from llmtrade.domain.committee import Decision, Pitch
from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.domain.streams import valuations_stream, week_stream
from llmtrade.domain.trading import (
    AccountSnapshot,
    Order,
    OrderRejected,
    OrderResult,
    OrdersPlanned,
    OrderStatus,
    OrderSubmitted,
    RiskChecked,
    RiskVerdict,
    TradeIntended,
    TradeIntent,
)
from llmtrade.errors import BrokerRejected, OperationalError
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.pipeline.frozen import once
from llmtrade.risk import gate as risk
from llmtrade.risk.controls import evaluate_breaker, halted, trading_enabled
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.projections import WEEK_START
from llmtrade.workflows.committee_stages import DECISION, FAILED_PMS, PITCHES
from llmtrade.workflows.research_stages import SNAPSHOT

VERDICTS = ContextKey("risk_verdicts", list[RiskVerdict])
PLANS = ContextKey("order_plans", list[OrdersPlanned])
EXECUTED = ContextKey("executed_orders", list[OrderSubmitted | OrderRejected])


@dataclass(frozen=True)
class Desk:
    """One account and the broker that holds it."""

    account: Account
    broker: Broker


def intent_for(
    account: Account, pitches: list[Pitch], failed_pms: list[str], decision: Decision, pm_of: Mapping[str, str]
) -> TradeIntent | None:
    if account.role is AccountRole.FLAT:
        return None
    if account.role is AccountRole.CHAIRMAN:
        trade = decision.selected_trade
        return TradeIntent(
            account_id=account.id,
            instrument=trade.instrument,
            direction=trade.direction,
            conviction=decision.conviction,
            source=f"decision:{decision.decision_id}",
        )
    pitch = next((p for p in pitches if p.account_id == account.id), None)
    if pitch is None:
        # The PM failed to pitch: its account goes flat for the week rather than keep last week's bet.
        return TradeIntent(
            account_id=account.id,
            instrument="",
            direction="FLAT",
            conviction=0,
            source=f"pitch-failed:{pm_of[account.id]}",
        )
    return TradeIntent(
        account_id=account.id,
        instrument=pitch.instrument,
        direction=pitch.direction,
        conviction=pitch.conviction,
        source=f"pitch:{pitch.idea_id}",
    )


def after_roll(account: AccountSnapshot, keep: str, prices: Mapping[str, float]) -> AccountSnapshot:
    """The account as it will be once positions in other instruments are closed at today's prices."""
    proceeds = sum(p.qty * prices.get(s, p.avg_price) for s, p in account.positions.items() if s != keep)
    kept = {s: p for s, p in account.positions.items() if s == keep}
    exposure = sum(abs(p.qty) * prices.get(s, p.avg_price) for s, p in kept.items())
    cash = account.cash + proceeds
    return account.model_copy(
        update={"cash": cash, "positions": kept, "buying_power": max(0.0, account.equity - exposure)}
    )


class RiskStage:
    name = "risk_gate"

    def __init__(self, desks: list[Desk], config: Config, events: EventStore, week_id: date, *, dry_run: bool = False):
        self.desks = desks
        self.config = config
        self.events = events
        self.week_id = week_id
        self.dry_run = dry_run

    def _value(self, desk: Desk, account: AccountSnapshot, run_id: str) -> None:
        if self.dry_run:
            return  # a dry run leaves no trace on accounts or breakers
        value_account(self.events, desk, account, self.config, occasion=WEEK_START, week_id=self.week_id, run_id=run_id)

    async def run(self, context: PipelineContext) -> PipelineContext:
        snapshot = context.get(SNAPSHOT)
        prices = {s: ind.close for s, ind in snapshot.indicators.items()}
        pitches, failed, decision = context.get(PITCHES), context.get(FAILED_PMS), context.get(DECISION)
        pm_of = {pm.account: pm.id for pm in self.config.models.pms}

        async def build() -> list[EventPayload]:
            payloads: list[EventPayload] = []
            for desk in self.desks:
                intent = intent_for(desk.account, pitches, failed, decision, pm_of)
                if intent is None:
                    self._value(desk, desk.broker.account(prices), context.run_id)  # the FLAT baseline is valued too
                    continue
                before = desk.broker.account(prices)
                queued = desk.broker.open_orders() if isinstance(desk.broker, PaperBroker) else []
                if queued:
                    # Planning against positions that queued orders are about to change would double them.
                    ids = ", ".join(o.client_order_id for o in queued)
                    raise OperationalError(
                        f"account {desk.account.id} still has orders queued ({ids}); run again after they fill"
                    )
                self._value(desk, before, context.run_id)
                stop, why = halted(self.events, desk.account.id)
                if intent.direction == "FLAT" and not intent.instrument:
                    verdict = RiskVerdict(
                        account_id=desk.account.id,
                        instrument="",
                        target_qty=0,
                        approved=not stop,
                        reason=why or "no pitch: flat for the week",
                        price=1.0,
                        adjustments=[],
                    )
                else:
                    shortable = desk.broker.is_shortable(intent.instrument) if intent.direction == "SHORT" else True
                    verdict = risk.check(
                        intent,
                        after_roll(before, intent.instrument, prices),
                        prices.get(intent.instrument, 0.0),
                        assets=self.config.assets,
                        risk=self.config.risk,
                        prices=prices,
                        broker_shortable=shortable,
                        halted=stop,
                        halt_reason=why,
                    )
                orders = (
                    []
                    if stop
                    else plan_orders(
                        self.week_id, desk.account.id, before.positions, verdict.instrument, verdict.target_qty
                    )
                )
                payloads += [
                    TradeIntended(intent=intent),
                    RiskChecked(verdict=verdict),
                    OrdersPlanned(
                        account_id=desk.account.id,
                        broker=desk.broker.name,
                        orders=orders,
                        positions_before=before.positions,
                    ),
                ]
            return payloads

        stream = week_stream(self.week_id, "risk")
        if self.dry_run and not self.events.read_stream(stream):
            # A dry run's plan is shown, never stored: the real run must plan from the account as it is then.
            payloads = await build()
            verdicts = [p.verdict for p in payloads if isinstance(p, RiskChecked)]
            plans = [p for p in payloads if isinstance(p, OrdersPlanned)]
            return context.with_values((VERDICTS, verdicts), (PLANS, plans))
        stored, _ = await once(
            self.events, stream, build, week_id=self.week_id, run_id=context.run_id, account_of=_account_of
        )
        verdicts = [RiskChecked.from_event(e).verdict for e in stored if e.type == RiskChecked.event_type()]
        plans = [OrdersPlanned.from_event(e) for e in stored if e.type == OrdersPlanned.event_type()]
        return context.with_values((VERDICTS, verdicts), (PLANS, plans))


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
    """Record the account's equity and let its circuit breaker see it (and any newly closed trades)."""
    events.append(
        [
            NewEvent.of(
                AccountValued(
                    account_id=account.account_id,
                    equity=account.equity,
                    cash=account.cash,
                    realized_pnl=account.realized_pnl,
                    unrealized_pnl=account.unrealized_pnl,
                    occasion=occasion,
                ),
                stream=valuations_stream(account.account_id),
                account_id=account.account_id,
                week_id=week_id,
                run_id=run_id,
            )
        ]
    )
    fills = desk.broker.fills() if isinstance(desk.broker, PaperBroker) else []
    evaluate_breaker(
        events,
        account.account_id,
        starting_equity=desk.account.starting_cash,
        equity=account.equity,
        fills=fills,
        config=config.risk.circuit_breaker,
        week_id=week_id,
        run_id=run_id,
    )


def _account_of(payload: EventPayload) -> str | None:
    if isinstance(payload, TradeIntended):
        return payload.intent.account_id
    if isinstance(payload, RiskChecked):
        return payload.verdict.account_id
    if isinstance(payload, OrdersPlanned):
        return payload.account_id
    return None


class ExecutionStage:
    name = "execution"

    def __init__(self, desks: list[Desk], events: EventStore, week_id: date, config: Config, *, dry_run: bool):
        self.desks = {d.account.id: d for d in desks}
        self.events = events
        self.week_id = week_id
        self.config = config
        self.dry_run = dry_run

    def _revalue(self, desk: Desk, prices: Mapping[str, float], run_id: str) -> Callable[[], None]:
        return revaluer(self.events, desk, self.config, prices, week_id=self.week_id, run_id=run_id)

    async def run(self, context: PipelineContext) -> PipelineContext:
        if self.dry_run:
            return context.with_value(EXECUTED, [])
        stream = week_stream(self.week_id, "orders")
        plans = [p for p in context.get(PLANS) if p.orders]
        for plan in plans:  # every check before any order goes out
            require_plan_still_fits(plan, self.desks[plan.account_id].broker, recorded_orders(self.events, stream))
        # Accounts are independent: their brokers' round trips overlap (brokers are synchronous clients).
        snapshot = context.get(SNAPSHOT) if context.has(SNAPSHOT) else None
        prices = {s: ind.close for s, ind in snapshot.indicators.items()} if snapshot else {}
        blocked = await asyncio.gather(
            *(
                asyncio.to_thread(
                    send_orders,
                    self.events,
                    self.desks[plan.account_id].broker,
                    plan.orders,
                    stream=stream,
                    week_id=self.week_id,
                    run_id=context.run_id,
                    after_fill=self._revalue(self.desks[plan.account_id], prices, context.run_id),
                )
                for plan in plans
            )
        )
        stop_if_blocked(self.events, sum(blocked))
        return context.with_value(EXECUTED, recorded_orders(self.events, stream))


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
    now = {s: p.qty for s, p in broker.account({}).positions.items() if p.qty}
    then = {s: p.qty for s, p in plan.positions_before.items() if p.qty}
    if now != then:
        raise OperationalError(
            f"account {plan.account_id}'s positions changed since its orders were planned "
            f"(planned from {then or 'nothing'}, now {now or 'nothing'}); nothing sent"
        )


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
        elif stop:
            # The breaker tripped after the plan was made (e.g. on this plan's own closing trade).
            payload = OrderBlocked(
                client_order_id=order.client_order_id,
                account_id=order.account_id,
                reason=f"circuit breaker: {halt_reason}",
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


def stop_if_blocked(events: EventStore, blocked: int) -> None:
    if blocked:
        _, why = trading_enabled(events)
        raise OperationalError(
            f"trading is disabled ({why}): {blocked} order(s) not sent. "
            "`llmtrade trading enable`, then run the same command again to send them"
        )


def _send(broker: Broker, order: Order) -> OrderSubmitted | OrderRejected:
    try:
        result: OrderResult = broker.submit(order)
    except BrokerRejected as exc:
        return OrderRejected(order=order, broker=broker.name, reason=str(exc))
    return OrderSubmitted(order=order, broker=broker.name, result=result)
