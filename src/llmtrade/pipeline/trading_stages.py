"""The risk gate and execution stages of the weekly run, over every account.

Risk: each account's owner has an intent (a PM's own pitch, the chairman's decision; the FLAT
baseline has none and never trades). The gate sizes it against the account as it will be after
the week roll, and the resulting orders are planned and frozen on the week's risk stream.
Execution: the frozen plan is sent, order by order, skipping any order already recorded, so a
resumed run never sends an order twice (and the broker refuses a reused client_order_id anyway).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from llmtrade.agents import risk
from llmtrade.config.models import Account, AccountRole, Config
from llmtrade.domain.committee import Decision, Pitch
from llmtrade.domain.events import EventPayload, NewEvent, StoredEvent
from llmtrade.domain.trading import (
    AccountHalted,
    AccountResumed,
    AccountSnapshot,
    Order,
    OrderRejected,
    OrderResult,
    OrdersPlanned,
    OrderSubmitted,
    RiskChecked,
    RiskVerdict,
    TradeIntended,
    TradeIntent,
)
from llmtrade.errors import BrokerRejected
from llmtrade.market.broker import Broker
from llmtrade.market.order_plan import plan_orders
from llmtrade.pipeline.committee_stages import DECISION, FAILED_PMS, PITCHES
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.pipeline.frozen import once, week_stream
from llmtrade.pipeline.research_stages import SNAPSHOT
from llmtrade.storage.event_store import EventStore

VERDICTS = ContextKey("risk_verdicts", list[RiskVerdict])
PLANS = ContextKey("order_plans", list[OrdersPlanned])
EXECUTED = ContextKey("executed_orders", list[OrderSubmitted | OrderRejected])


@dataclass(frozen=True)
class Desk:
    """One account and the broker that holds it."""

    account: Account
    broker: Broker


def halted(events: EventStore, account_id: str) -> tuple[bool, str]:
    """The circuit breaker's latest word on the account (halts and resumes are events)."""
    found = events.read(account_id=account_id, type=[AccountHalted.event_type(), AccountResumed.event_type()])
    if not found or found[-1].type == AccountResumed.event_type():
        return False, ""
    return True, AccountHalted.from_event(found[-1]).reason


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

    def __init__(self, desks: list[Desk], config: Config, events: EventStore, week_id: date):
        self.desks = desks
        self.config = config
        self.events = events
        self.week_id = week_id

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
                    continue
                before = desk.broker.account(prices)
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

        stored, _ = await once(
            self.events,
            week_stream(self.week_id, "risk"),
            build,
            week_id=self.week_id,
            run_id=context.run_id,
            account_of=_account_of,
        )
        verdicts = [RiskChecked.from_event(e).verdict for e in stored if e.type == RiskChecked.event_type()]
        plans = [OrdersPlanned.from_event(e) for e in stored if e.type == OrdersPlanned.event_type()]
        return context.with_values((VERDICTS, verdicts), (PLANS, plans))


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

    def __init__(self, desks: list[Desk], events: EventStore, week_id: date, *, dry_run: bool):
        self.desks = {d.account.id: d for d in desks}
        self.events = events
        self.week_id = week_id
        self.dry_run = dry_run

    async def run(self, context: PipelineContext) -> PipelineContext:
        stream = week_stream(self.week_id, "orders")
        if self.dry_run:
            return context.with_value(EXECUTED, [])
        done = {
            _order_of(e).client_order_id: e
            for e in self.events.read_stream(stream)
            if e.type in (OrderSubmitted.event_type(), OrderRejected.event_type())
        }
        for plan in context.get(PLANS):
            broker = self.desks[plan.account_id].broker
            for order in plan.orders:
                if order.client_order_id in done:
                    continue  # sent by an earlier (interrupted) run of this week
                payload = self._send(broker, order)
                self.events.append(
                    [
                        NewEvent.of(
                            payload,
                            stream=stream,
                            week_id=self.week_id,
                            run_id=context.run_id,
                            account_id=order.account_id,
                        )
                    ]
                )
        executed = [
            OrderSubmitted.from_event(e) if e.type == OrderSubmitted.event_type() else OrderRejected.from_event(e)
            for e in self.events.read_stream(stream)
            if e.type in (OrderSubmitted.event_type(), OrderRejected.event_type())
        ]
        return context.with_value(EXECUTED, executed)

    @staticmethod
    def _send(broker: Broker, order: Order) -> OrderSubmitted | OrderRejected:
        try:
            result: OrderResult = broker.submit(order)
        except BrokerRejected as exc:
            return OrderRejected(order=order, broker=broker.name, reason=str(exc))
        return OrderSubmitted(order=order, broker=broker.name, result=result)


def _order_of(event: StoredEvent) -> Order:
    if event.type == OrderSubmitted.event_type():
        return OrderSubmitted.from_event(event).order
    return OrderRejected.from_event(event).order
