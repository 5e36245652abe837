"""The risk gate and execution stages of the weekly run, over every account.

Risk: each account's owner has an intent (a PM's own pitch, the chairman's decision; the FLAT
baseline has none and never trades). The gate sizes it against the account as it will be after
the week roll, and the resulting orders are planned and frozen on the week's risk stream.
Execution: workflows/execution_stage.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from llmtrade.config.models import Account, AccountRole
from llmtrade.domain.account_events import AccountWeekHeld
from llmtrade.domain.committee import Decision, Pitch
from llmtrade.domain.events import EventPayload, NewEvent, StoredEvent
from llmtrade.domain.streams import RISK, week_stream
from llmtrade.domain.trading import AccountSnapshot, OrdersPlanned, RiskChecked, RiskVerdict, TradeIntended, TradeIntent
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.pipeline.frozen import once
from llmtrade.threads import on_threads
from llmtrade.workflows.committee_stages import DECISION, FAILED_PMS, PITCHES
from llmtrade.workflows.execution import LAST_CLOSES, PRICES
from llmtrade.workflows.research_stages import SNAPSHOT
from llmtrade.workflows.week_gate import WeekGate
from llmtrade.workflows.week_holds import accounts_held, planned_late_note, trading_accounts

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


# Each account's TradeIntended, RiskChecked and OrdersPlanned, planned before the chairman has decided: every
# account but the chairman's (risk_prep). Empty when the week's plan is already stored.
PREPARED = ContextKey("risk_prepared", dict[str, list[EventPayload]])
# The chairman's accounts reconciled and valued (`_Gate.ready`) before the decision, by account id: only their sizing
# is left for the risk gate. Empty when the week's plan is already stored.
READY = ContextKey("risk_ready", dict[str, AccountSnapshot])
# A dry run's accounts sized while orders are queued at their broker (`_Gate.ready`), one line each, said as warnings.
QUEUED = ContextKey("queued_in_dry_run", list[str])
# Held positions whose prices ended, left out of the roll's closes (roll_sizing.py `unsold_note`), one line each: said
# as warnings by the run that planned them, the run degraded.
UNSOLD = ContextKey("unsold_in_roll", list[str])
# Accounts this run held back for orders of llmtrade's still open at their broker (week_gate.py `held_note`), one line
# each: said as warnings, the run degraded; the week's next run looks at them again.
HELD = ContextKey("held_back_accounts", list[str])
# Accounts a later run of the week found held back as its stored AccountWeekHeld says (the same orders, or its broker
# still not answering), one line each: said, not warned nor degraded again, as run-due asks at every wake-up (a stuck
# cancel for hours mailed a cron user every five minutes); the run that held it, or one that found the hold changed,
# warns (HELD).
HELD_AGAIN = ContextKey("held_back_again", list[str])
# Held accounts this run planned from the week's snapshot after later sessions had closed (week_holds.py
# `planned_late_note`), one line each: said as warnings, so that sizing at those older closes is not silent.
PLANNED_LATE = ContextKey("held_planned_late", list[str])


class RiskPrepStage(WeekGate):
    """The risk gate's work for every account but the chairman's, done before the chairman has decided: a PM's
    account trades its own pitch and the FLAT baseline nothing, so neither waits for the decision; the chairman's
    account is reconciled and valued (`ready`), its sizing left to the risk gate. With `overlaps` it runs on a
    worker thread alongside the chairman's round trip. It only plans: the plans are frozen (and so can be sent)
    only by the risk gate, after the decision; no order is sent before it. What it records (reconciliation, the
    week-start valuation, a halted account's shadow trade) is recorded once whichever run gets there first.
    Nothing to do once the week's plan is stored (loaded)."""

    name = "risk_prep"
    reads = (SNAPSHOT, PITCHES, FAILED_PMS)
    writes = (PREPARED, READY, QUEUED, UNSOLD)

    async def run(self, context: PipelineContext) -> PipelineContext:
        if self.events.read_stream(week_stream(self.week_id, RISK)):
            return context.with_values((PREPARED, {}), (READY, {}), (QUEUED, []), (UNSOLD, [])).with_loaded(self.name)
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
            self.wait_for_queued(trading_accounts([d.account for d in self.desks]))
            # A chairman's account held back is not ready: the risk gate looks at it again, and holds or plans it.
            return planned, {a: account for a, account in ready.items() if account is not None and a not in self.held}

        run = context.run_id
        # On a thread: its broker reads and records are blocking calls, and the chairman's reply must not wait. Not
        # to_thread alone: a stop landing as the thread starts left it recording after the run's failure was.
        prepared, ready = (await on_threads([prepare]))[0] if self.overlaps else prepare()
        return context.with_values(
            (PREPARED, prepared), (READY, ready), (QUEUED, list(self.queued)), (UNSOLD, list(self.unsold))
        )


class RiskStage(WeekGate):
    name = "risk_gate"
    reads = (SNAPSHOT, PITCHES, FAILED_PMS, DECISION, PREPARED, READY, QUEUED, UNSOLD)
    writes = (VERDICTS, PLANS, PRICES, LAST_CLOSES, QUEUED, UNSOLD, HELD, HELD_AGAIN, PLANNED_LATE)

    def __init__(self, *args: Any, now: datetime | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.now = now  # when the run began: whether sessions closed after the week's snapshot (`_plan_held`)
        self.late: list[str] = []

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
            for payload in payloads:  # those the prep held (an account held here is in `held` already)
                if isinstance(payload, AccountWeekHeld):
                    self.held.setdefault(payload.account_id, payload)
            self.wait_for_queued(trading_accounts([d.account for d in self.desks]))
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
            unsold = [*context.get(UNSOLD), *self.unsold]
            return context.with_values(
                (VERDICTS, verdicts),
                (PLANS, plans),
                (PRICES, self.closes(snapshot)),
                (LAST_CLOSES, self.last_closes()),
                (QUEUED, queued),
                (UNSOLD, unsold),
                (HELD, []),  # a dry run never holds an account back: it sizes it as it is, and says so (QUEUED)
                (HELD_AGAIN, []),
                (PLANNED_LATE, []),
            )
        stored, built = await once(
            self.events, stream, build, week_id=self.week_id, run_id=context.run_id, account_of=_account_of
        )
        planned_now, again = False, []
        if built:
            held = [h.reason for h in accounts_held(stored).values()]
        else:
            stored, held, again, planned_now = self._plan_held(stored, context)
        # The plan is on disk (its commit waited, here or in the run that stored it): the stage events after it and
        # the orders' records need not wait again until the run's end, which WeeklyPipeline waits for.
        self.events.defer_flush(True)
        verdicts = [RiskChecked.from_event(e).verdict for e in stored if e.type == RiskChecked.event_type()]
        plans = [OrdersPlanned.from_event(e) for e in stored if e.type == OrdersPlanned.event_type()]
        # Said by the run that stored the plan only: a run that found it stored planned nothing.
        unsold = [*context.get(UNSOLD), *self.unsold] if built else []
        result = context.with_values(
            (VERDICTS, verdicts),
            (PLANS, plans),
            (PRICES, self.closes(snapshot)),
            (LAST_CLOSES, self.last_closes()),
            (QUEUED, context.get(QUEUED)),
            (UNSOLD, unsold),
            (HELD, held),
            (HELD_AGAIN, again),
            (PLANNED_LATE, list(self.late)),
        )
        return result if built or planned_now else result.with_loaded(self.name)

    def _plan_held(
        self, stored: list[StoredEvent], context: PipelineContext
    ) -> tuple[list[StoredEvent], list[str], list[str], bool]:
        """A later run of the week whose stored plan holds accounts back (`accounts_held`): each is looked at again (the
        broker first), planned when its orders have ended, its TradeIntended, RiskChecked and OrdersPlanned appended to
        the week's risk stream (at its head: a run racing this one under the week's lock cannot be), and so sent by
        this run's execution, once; held again, said again (a hold that changed, recorded anew). A dry run looks at
        none (it sends nothing). Returns the stream as it is now, the notes of the accounts held anew (HELD) and held
        as before (HELD_AGAIN), and whether any was planned now."""
        waiting = accounts_held(stored)
        if not waiting or self.dry_run:
            return stored, [h.reason for h in waiting.values()], [], False
        snapshot, pitches, failed = context.get(SNAPSHOT), context.get(PITCHES), context.get(FAILED_PMS)
        decision = context.get(DECISION)
        pm_of = {pm.account: pm.id for pm in self.config.models.pms}
        payloads: list[EventPayload] = []
        again: list[str] = []
        for desk in (d for d in self.desks if d.account.id in waiting):
            intent = intent_for(desk.account, pitches, failed, decision, pm_of)
            planned = self.plan(desk, intent, snapshot, context.run_id, ends_hold=True)
            now, before = self.held.get(desk.account.id), waiting[desk.account.id]
            if now is None:
                payloads += planned
            elif (now.orders, now.canceling) == (before.orders, before.canceling):
                again.append(now.reason)
            else:
                payloads.append(now)
        changed = [p.reason for p in payloads if isinstance(p, AccountWeekHeld)]
        # Planned from the week's snapshot, as the other accounts were: days later, sessions have closed since, whose
        # prices are not in its sizing. Said (a stuck cancel can hold an account until Friday).
        last = self.market.calendar.last_completed_session(self.now) if self.market and self.now else None
        if last is not None and last > snapshot.session:
            planned = [p for p in payloads if isinstance(p, OrdersPlanned) and p.orders]
            self.late += [planned_late_note(p.account_id, snapshot.session, last) for p in planned]
        if not payloads:
            return stored, changed, again, False
        stream = week_stream(self.week_id, RISK)
        batch = [
            NewEvent.of(p, stream=stream, week_id=self.week_id, run_id=context.run_id, account_id=_account_of(p))
            for p in payloads
        ]
        # On disk before execution can send any of it, as the first plan's commit (`build`).
        self.events.defer_flush(False)
        self.events.append(batch, expected_versions={stream: stored[-1].version})
        self.events.defer_flush(True)
        planned_now = any(isinstance(p, OrdersPlanned) for p in payloads)
        return self.events.read_stream(stream), changed, again, planned_now


def _account_of(payload: EventPayload) -> str | None:
    if isinstance(payload, TradeIntended):
        return payload.intent.account_id
    if isinstance(payload, RiskChecked):
        return payload.verdict.account_id
    if isinstance(payload, OrdersPlanned | AccountWeekHeld):
        return payload.account_id
    return None
