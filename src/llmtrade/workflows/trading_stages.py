"""The risk gate and execution stages of the weekly run, over every account.

Risk: each account's owner has an intent (a PM's own pitch, the chairman's decision; the FLAT
baseline has none and never trades). The gate sizes it against the account as it will be after
the week roll, and the resulting orders are planned and frozen on the week's risk stream.
Execution: workflows/execution_stage.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date

from llmtrade.brokers.fills import Observed, look_at
from llmtrade.brokers.order_plan import plan_orders
from llmtrade.brokers.reconcile import look, record_differences
from llmtrade.config.models import Account, AccountRole, Config
from llmtrade.discovery.universe import held_outside
from llmtrade.domain.committee import Decision, Pitch
from llmtrade.domain.events import EventPayload
from llmtrade.domain.research import MarketSnapshot
from llmtrade.domain.streams import RISK, week_stream
from llmtrade.domain.trading import (
    AccountSnapshot,
    OrdersPlanned,
    RiskChecked,
    RiskVerdict,
    TradeIntended,
    TradeIntent,
)
from llmtrade.errors import TemporaryError
from llmtrade.market.daily_bars import DailyBars
from llmtrade.market.held_prices import held_closes
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.pipeline.frozen import once
from llmtrade.risk import gate as risk
from llmtrade.risk.controls import halted
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.projections import WEEK_START
from llmtrade.workflows.broker_splits import SeenSplits
from llmtrade.workflows.committee_stages import DECISION, FAILED_PMS, PITCHES
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import (
    PRICES,
    queued_order_ids,
    value_account,
)
from llmtrade.workflows.research_stages import SNAPSHOT
from llmtrade.workflows.shadow import record_shadow_trade

VERDICTS = ContextKey("risk_verdicts", list[RiskVerdict])
PLANS = ContextKey("order_plans", list[OrdersPlanned])


def intent_for(
    account: Account,
    pitches: list[Pitch],
    failed_pms: list[str],
    decision: Decision | None,
    pm_of: Mapping[str, str],
) -> TradeIntent | None:
    """The account's intent for the week: None for the FLAT baseline; the chairman's needs the decision."""
    if account.role is AccountRole.FLAT:
        return None
    if account.role is AccountRole.CHAIRMAN:
        if decision is None:
            raise ValueError(f"account {account.id} trades the chairman's decision, and there is none yet")
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


# Each account's TradeIntended, RiskChecked and OrdersPlanned, planned before the chairman has decided: every
# account but the chairman's (risk_prep). Empty when the week's plan is already stored.
PREPARED = ContextKey("risk_prepared", dict[str, list[EventPayload]])
# The chairman's accounts reconciled and valued (`_Gate.ready`) before the decision, by account id: only their sizing
# is left for the risk gate. Empty when the week's plan is already stored.
READY = ContextKey("risk_ready", dict[str, AccountSnapshot])
# A dry run's accounts sized while orders are queued at their broker (`_Gate.ready`), one line each, said as warnings.
QUEUED = ContextKey("queued_in_dry_run", list[str])


class _Gate:
    """Sizing one account's intent: reconcile, value (week start), the breaker, the gate, the orders."""

    def __init__(
        self,
        desks: list[Desk],
        config: Config,
        events: EventStore,
        week_id: date,
        *,
        dry_run: bool = False,
        market: DailyBars | None = None,
    ):
        self.desks = desks
        self.config = config
        self.events = events
        self.week_id = week_id
        self.dry_run = dry_run
        self.market = market  # prices what is held outside the universe (`held_prices`)
        self._held: dict[str, float] = {}
        self.splits = SeenSplits(events, week_id, dry_run=dry_run)
        self.queued: list[str] = []
        # A real run's accounts with orders queued at their broker, by account id: each is looked at before the run
        # stops (`wait_for_queued`), so its one message names them all; it named only the first (a trial).
        self.waiting: dict[str, list[str]] = {}

    def held_prices(self, snapshot: MarketSnapshot) -> None:
        """Read the snapshot session's closes of every symbol held outside the universe (the snapshot has the
        universe's only), before any account is looked at: the week roll sells them and the week start values them at
        these, where they were taken at cost (an operator's trial). One no provider has stays at cost, and its
        valuation says so (AccountValued.at_cost)."""
        extra = [s for s in held_outside(self.config, self.events) if s not in snapshot.indicators]
        if self.market is None or not extra:
            self._held = {}
            return
        self._held = held_closes(self.market, extra, snapshot.asof)[0]

    def closes(self, snapshot: MarketSnapshot, account_id: str = "") -> dict[str, float]:
        """The weekly run's prices: the snapshot's closes and those of the symbols held outside the universe
        (`held_prices`), in the new shares of a split an earlier look recorded."""
        closes = {s: ind.close for s, ind in snapshot.indicators.items()} | self._held
        return self.splits.in_new_shares(account_id, closes, snapshot.session, snapshot.asof)

    def wait_for_queued(self) -> None:
        """Raises TemporaryError (exit 75) naming every account `ready` found with orders queued, and their orders."""
        if not self.waiting:
            return
        said = "; ".join(f"account {a} still has orders queued ({', '.join(ids)})" for a, ids in self.waiting.items())
        raise TemporaryError(f"{said}: they fill at the open; run again after they fill")

    def _value(
        self, desk: Desk, account: AccountSnapshot, run_id: str, observed: Observed, ours: frozenset[str]
    ) -> None:
        if self.dry_run:
            return  # a dry run leaves no trace on accounts or breakers
        value_account(
            self.events,
            desk,
            account,
            self.config,
            occasion=WEEK_START,
            week_id=self.week_id,
            run_id=run_id,
            observed=observed,
            ours=ours,
        )

    def ready(self, desk: Desk, snapshot: MarketSnapshot, run_id: str, *, trades: bool = True) -> AccountSnapshot:
        """The account as llmtrade manages it at the week's start: reconciled with its broker and valued (each
        recorded once, unless dry). Nothing here depends on the week's intent. An account that `trades` with orders
        queued is neither valued nor sized but kept in `waiting`: the run stops (`wait_for_queued`, exit 75) once
        every account is looked at; they fill at the open, and the same run then goes on. A dry run sends
        nothing, so nothing can be doubled: it goes on, sized from the positions before they fill, and says so."""
        prices = self.closes(snapshot)  # in the new shares of a split an earlier desk's look recorded
        # One look at the broker's account, orders and fills (in that order, as reconciliation reads them) serves the
        # reconciliation, the queue check and the valuation, as a checkpoint's (nothing between them changes the books).
        account, observed = look_at(desk.broker, prices)
        seen = look(self.events, desk.broker, account, prices, observed=observed)
        self.splits.record(seen, desk.broker.name, snapshot.asof, prices, run_id)
        if not self.dry_run:
            record_differences(
                self.events,
                account.account_id,
                seen.differences,
                occasion=WEEK_START,
                week_id=self.week_id,
                run_id=run_id,
            )
        # Only what llmtrade manages: a position made by hand is reported, and left out of everything.
        before = seen.managed
        if trades:
            queued = queued_order_ids(desk, observed.orders)
            if queued:
                # Planning against positions that queued orders are about to change would double them. Temporary, not
                # a fault to fix: orders placed after the close (the quick start run on a Tuesday evening) fill at the
                # open, and run-due exited 1 at every wake-up until then (found by the new-user trial).
                # A dry run (of a past week, say, while this week's orders wait for the open) exited 75 for them.
                ids = ", ".join(queued)
                if not self.dry_run:
                    self.waiting[desk.account.id] = queued
                    return before  # neither valued nor sized: the run stops once every account is looked at
                said = f"account {desk.account.id} has orders queued ({ids}): they fill at the open; this dry run"
                self.queued.append(f"{said} sized it from the positions held now, before they fill")
        self._value(desk, before, run_id, observed, seen.planned)  # the FLAT baseline is valued too
        return before

    def plan(
        self,
        desk: Desk,
        intent: TradeIntent | None,
        snapshot: MarketSnapshot,
        run_id: str,
        *,
        before: AccountSnapshot | None = None,
    ) -> list[EventPayload]:
        """The account's TradeIntended, RiskChecked and OrdersPlanned (none for the FLAT baseline, which is only
        valued). Records the reconciliation, the week-start valuation (both by `ready`, unless `before` is its
        answer already) and a halted account's shadow trade (each once) unless dry. Nothing while the account has
        orders queued (`waiting`)."""
        if before is None or (self.dry_run and not self.splits.looked(desk.account.id)):
            before = self.ready(desk, snapshot, run_id, trades=intent is not None)  # records (or keeps) splits seen
        if desk.account.id in self.waiting:
            return []
        prices = self.closes(snapshot, desk.account.id)
        if intent is None:
            return []
        stop, why = halted(self.events, desk.account.id)
        if intent.direction == "FLAT" and not intent.instrument:
            verdict = RiskVerdict(
                account_id=desk.account.id,
                instrument="",
                target_qty=0,
                approved=True,  # closing everything only reduces risk, halted or not
                reason="no pitch: flat for the week" + (f" (halted: {why})" if stop else ""),
                price=1.0,
                adjustments=[],
                shadow_qty=0 if stop else None,
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
                suspect=snapshot.suspect.get(intent.instrument),
                # Sold at their last close (after_roll), held positions' closes are the money the trade is sized from.
                suspect_held={s: snapshot.suspect[s] for s in before.positions if s in snapshot.suspect},
            )
        if stop and not self.dry_run:
            record_shadow_trade(
                self.events,
                desk,
                self.config,
                verdict,
                prices,
                roll=True,
                source=f"week {self.week_id}",
                at=snapshot.asof,
                week_id=self.week_id,
                run_id=run_id,
            )
        # A halted account's verdict is already cut to what reduces risk; its roll still closes.
        orders = plan_orders(self.week_id, desk.account.id, before.positions, verdict.instrument, verdict.target_qty)
        return [
            TradeIntended(intent=intent),
            RiskChecked(verdict=verdict),
            OrdersPlanned(
                account_id=desk.account.id, broker=desk.broker.name, orders=orders, positions_before=before.positions
            ),
        ]


class RiskPrepStage(_Gate):
    """The risk gate's work for every account but the chairman's, done before the chairman has decided: a PM's
    account trades its own pitch and the FLAT baseline nothing, so neither waits for the decision; the chairman's
    account is reconciled and valued (`ready`), its sizing left to the risk gate. With `overlaps` it runs on a
    worker thread alongside the chairman's round trip. It only plans: the plans are frozen (and so can be sent)
    only by the risk gate, after the decision; no order is sent before it. What it records (reconciliation, the
    week-start valuation, a halted account's shadow trade) is recorded once whichever run gets there first.
    Nothing to do once the week's plan is stored (loaded)."""

    name = "risk_prep"
    reads = (SNAPSHOT, PITCHES, FAILED_PMS)
    writes = (PREPARED, READY, QUEUED)

    def __init__(
        self,
        desks: list[Desk],
        config: Config,
        events: EventStore,
        week_id: date,
        *,
        dry_run: bool = False,
        overlaps: bool = False,
        market: DailyBars | None = None,
    ):
        super().__init__(desks, config, events, week_id, dry_run=dry_run, market=market)
        self.overlaps = overlaps

    async def run(self, context: PipelineContext) -> PipelineContext:
        if self.events.read_stream(week_stream(self.week_id, RISK)):
            return context.with_values((PREPARED, {}), (READY, {}), (QUEUED, [])).with_loaded(self.name)
        snapshot, pitches, failed = context.get(SNAPSHOT), context.get(PITCHES), context.get(FAILED_PMS)
        self.held_prices(snapshot)  # here, not on the worker thread
        pm_of = {pm.account: pm.id for pm in self.config.models.pms}
        desks = [d for d in self.desks if d.account.role is not AccountRole.CHAIRMAN]
        chairs = [d for d in self.desks if d.account.role is AccountRole.CHAIRMAN]

        def prepare() -> tuple[dict[str, list[EventPayload]], dict[str, AccountSnapshot]]:
            planned = {
                desk.account.id: self.plan(desk, intent_for(desk.account, pitches, failed, None, pm_of), snapshot, run)
                for desk in desks
            }
            # The chairman's account: what does not depend on the decision (reconciled, valued), sized after it.
            ready = {desk.account.id: self.ready(desk, snapshot, run) for desk in chairs}
            self.wait_for_queued()
            return planned, ready

        run = context.run_id
        # On a thread: its broker reads and records are blocking calls, and the chairman's reply must not wait.
        prepared, ready = await asyncio.to_thread(prepare) if self.overlaps else prepare()
        return context.with_values((PREPARED, prepared), (READY, ready), (QUEUED, list(self.queued)))


class RiskStage(_Gate):
    name = "risk_gate"
    reads = (SNAPSHOT, PITCHES, FAILED_PMS, DECISION, PREPARED, READY, QUEUED)
    writes = (VERDICTS, PLANS, PRICES, QUEUED)
    overlaps = False

    async def run(self, context: PipelineContext) -> PipelineContext:
        snapshot = context.get(SNAPSHOT)
        self.held_prices(snapshot)
        pitches, failed, decision = context.get(PITCHES), context.get(FAILED_PMS), context.get(DECISION)
        prepared, ready = context.get(PREPARED), context.get(READY)
        pm_of = {pm.account: pm.id for pm in self.config.models.pms}

        async def build() -> list[EventPayload]:
            payloads: list[EventPayload] = []
            for desk in self.desks:
                if desk.account.id in prepared:
                    payloads += prepared[desk.account.id]
                    continue
                intent = intent_for(desk.account, pitches, failed, decision, pm_of)
                before = ready.get(desk.account.id)
                payloads += self.plan(desk, intent, snapshot, context.run_id, before=before)
            self.wait_for_queued()
            # The plan's own commit is the one that waits for the disk (workflows/weekly.py WeeklyPipeline): it puts
            # the plan and every record before it (this stage's reconciliation and valuation too) on disk before
            # execution can send anything; the records just before it need not wait one by one.
            self.events.defer_flush(False)
            return payloads

        stream = week_stream(self.week_id, RISK)
        if self.dry_run and not self.events.read_stream(stream):
            # A dry run's plan is shown, never stored: the real run must plan from the account as it is then.
            payloads = await build()
            verdicts = [p.verdict for p in payloads if isinstance(p, RiskChecked)]
            plans = [p for p in payloads if isinstance(p, OrdersPlanned)]
            queued = list(dict.fromkeys([*context.get(QUEUED), *self.queued]))  # the chairman's looked at twice
            return context.with_values(
                (VERDICTS, verdicts), (PLANS, plans), (PRICES, self.closes(snapshot)), (QUEUED, queued)
            )
        stored, built = await once(
            self.events, stream, build, week_id=self.week_id, run_id=context.run_id, account_of=_account_of
        )
        # The plan is on disk (its commit waited, here or in the run that stored it): the stage events after it and
        # the orders' records need not wait again until the run's end, which WeeklyPipeline waits for.
        self.events.defer_flush(True)
        verdicts = [RiskChecked.from_event(e).verdict for e in stored if e.type == RiskChecked.event_type()]
        plans = [OrdersPlanned.from_event(e) for e in stored if e.type == OrdersPlanned.event_type()]
        result = context.with_values(
            (VERDICTS, verdicts), (PLANS, plans), (PRICES, self.closes(snapshot)), (QUEUED, context.get(QUEUED))
        )
        return result if built else result.with_loaded(self.name)


def _account_of(payload: EventPayload) -> str | None:
    if isinstance(payload, TradeIntended):
        return payload.intent.account_id
    if isinstance(payload, RiskChecked):
        return payload.verdict.account_id
    if isinstance(payload, OrdersPlanned):
        return payload.account_id
    return None
