"""The checkpoint's last three stages: decide (risk gate and order plan), execute, complete.

decide: every judged account whose action trades (EXIT, FLIP, REDUCE) goes through the risk gate;
its verdict and order plan follow its judgement on its checkpoint stream, written once, so a rerun
plans nothing twice. execute: the plans are sent through workflows/execution.py, the same code as
the weekly run's (nothing already recorded is sent again). complete: the checkpoint's marker, unless an
account waits for a price (deferred by prepare, or judged by an earlier run and not decided yet): then
StageDeferred and exit 75, so the next wake-up judges (or decides) it; the others are done.
"""

from __future__ import annotations

from dataclasses import replace

from llmtrade.brokers.order_plan import plan_orders
from llmtrade.domain.checkpoints import Checkpoint, CheckpointCompleted
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import (
    OrderRejected,
    OrdersPlanned,
    OrderSubmitted,
    RiskChecked,
    RiskVerdict,
    TradeIntent,
)
from llmtrade.domain.wording import market_time
from llmtrade.errors import Waiting
from llmtrade.market.calendar import new_york_date
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.risk import gate as risk
from llmtrade.risk.controls import halted
from llmtrade.workflows.checkpoint_ask import ANSWERED
from llmtrade.workflows.checkpoint_prepare import ASKING, DEFERRED, NOT_SENT, RESUMED, Resumed
from llmtrade.workflows.checkpoint_skips import record_deferred
from llmtrade.workflows.checkpoint_slot import Outcome, Slot
from llmtrade.workflows.checkpoint_unpriced import unsent
from llmtrade.workflows.completion import COMPLETION, NONE, Completion
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import (
    ABANDONED,
    LAST_CLOSES,
    PRICE_AGES,
    PRICES,
    UNFINISHED,
    Execution,
    execute_plans,
)
from llmtrade.workflows.legs import SUPERSEDED, resume_unfinished
from llmtrade.workflows.plan_recovery import recorded_orders
from llmtrade.workflows.shadow import record_shadow_trade
from llmtrade.workflows.workbench import Workbench

OUTCOMES = ContextKey("checkpoint_outcomes", list[Outcome])  # every account, in the desks' order
# Accounts judged by an earlier run whose instrument has no price now: not decided (or decided and not all sent),
# "SYMBOL (why)" each.
UNDECIDED = ContextKey("checkpoint_undecided", dict[str, str])
# A verdict's reason: a kept judgement past the checkpoint's deadline, not traded (`DecideStage._stale`).
STALE = "STALE"
SENT = ContextKey("checkpoint_orders", list[OrderSubmitted | OrderRejected])  # this checkpoint's orders


class DecideStage:
    name = "decide"
    reads = (ANSWERED, ASKING, RESUMED, PRICES, PRICE_AGES, LAST_CLOSES, DEFERRED, NOT_SENT)
    writes = (OUTCOMES, UNDECIDED)
    overlaps = False

    def __init__(self, bench: Workbench, slot: Slot, *, dry_run: bool):
        self.bench = bench
        self.slot = slot
        self.dry_run = dry_run

    async def run(self, context: PipelineContext) -> PipelineContext:
        bench, prices, answered = self.bench, context.get(PRICES), context.get(ANSWERED)
        # The accounts judged in this run were valued moments ago; one resumed after a crash is read again.
        prepared = {p.desk.account.id: p for p in context.get(ASKING)}
        outcomes: list[Outcome] = []
        decided: list[Outcome] = []
        undecided: dict[str, str] = {}
        deferred, not_sent = context.get(DEFERRED), context.get(NOT_SENT)
        late = self._late()  # read once, as the owners' answers are in
        for desk in bench.desks:
            if desk.account.id in deferred:
                continue  # not judged: a symbol it holds has no price now
            outcome = answered[desk.account.id]
            checkpoint = outcome.checkpoint
            if desk.account.id in not_sent:
                # Judged by an earlier run, no price of the session comes (prepare gave up a decision's orders not
                # sent). One not decided is decided now, not traded, and stored: no rerun decides it at a later price.
                why = not_sent[desk.account.id]
                if checkpoint is not None and outcome.orders is None:
                    price = checkpoint.price.price if checkpoint.price else checkpoint.indicators_snapshot.get("close")
                    kept = self._kept(desk, checkpoint, context.get(RESUMED)[desk.account.id], price, why)
                    outcome = replace(outcome, **kept)
                    decided.append(outcome)
                outcomes.append(replace(outcome, skipped=why))
                continue
            if checkpoint and checkpoint.instrument not in prices and outcome.orders and self._unsent(outcome.orders):
                # Decided by an earlier run that stopped before sending all: an order is filled (paper) and the account
                # valued after it at a price that is not there; it waits as an undecided account does.
                undecided[desk.account.id] = f"{checkpoint.instrument} (no price now)"
                continue
            if checkpoint is None or checkpoint.action == "STAY" or outcome.orders is not None:
                outcomes.append(outcome)  # nothing to trade, or decided by an earlier run
                continue
            if checkpoint.instrument not in prices:
                # Judged by an earlier run that stopped before deciding: no order is sized at a price that is not there.
                undecided[desk.account.id] = f"{checkpoint.instrument} (no price now)"
                continue
            judged = prepared.get(desk.account.id)
            if judged is not None and late is not None:
                # Judged now, answered after the checkpoint's window or its session closed (owners slow to answer on the
                # machine's clock): orders sent now would go after the close (queued for the next open) or past the
                # deadline, at prices of before it. Not traded, as a kept judgement past its deadline is not.
                kept = self._kept(
                    desk, checkpoint, Resumed(judged.account, judged.suspect), prices[checkpoint.instrument], late
                )
                outcome = replace(outcome, **kept)
                outcomes.append(outcome)
                decided.append(outcome)
                continue
            if judged is not None:
                sized = Resumed(judged.account, judged.suspect, judged.age)
            else:
                # Judged by an earlier run that stopped before deciding: looked at again by prepare (RESUMED), unless
                # the checkpoint's window has closed: its judgement is not traded at a later price than it was made
                # at; run-due closes it ("judged, not traded") and the next checkpoint judges at its own prices.
                resumed = context.get(RESUMED)[desk.account.id]
                if not bench.window.open:
                    outcome = replace(outcome, **self._stale(desk, checkpoint, resumed, prices))
                    outcomes.append(outcome)
                    decided.append(outcome)
                    continue
                if isinstance(resumed, str):
                    undecided[desk.account.id] = resumed
                    continue
                sized = resumed
            verdict, plan = self._decide(desk, checkpoint, sized, context)
            outcome = replace(outcome, verdict=verdict, orders=plan)
            outcomes.append(outcome)
            decided.append(outcome)
        if decided and not self.dry_run:
            self._store(decided)
        result = context.with_values((OUTCOMES, outcomes), (UNDECIDED, undecided))
        return result if decided else result.with_loaded(self.name)

    def _late(self) -> str | None:
        """Why judgements answered now are not traded (a STALE reason), or None: the checkpoint's window closed since
        the run began, or its session did, on the machine's real clock (a chosen clock, LLMTRADE_NOW or a backtest's
        step, keeps the run's instant: never late)."""
        bench = self.bench
        clock = bench.clock
        if clock is None or not clock.real or self.dry_run:
            return None  # a dry run, allowed after the close, shows what the judgements would trade
        now = clock.now()
        calendar = bench.market.calendar
        day = new_york_date(bench.now)
        if calendar.is_session(day) and now >= (closed := calendar.session_close(day)):
            return (
                f"{STALE}: judged at {self.slot.label} and answered at {market_time(now)}, after the session's close "
                f"{market_time(closed)}; not traded after it at the session's prices (the next checkpoint judges at "
                "its own)"
            )
        if not bench.window.open and bench.deadline is not None:
            return (
                f"{STALE}: judged at {self.slot.label} and answered at {market_time(now)}, after the checkpoint's "
                f"deadline {market_time(bench.deadline)}; not traded at its prices (the next checkpoint judges at its "
                "own)"
            )
        return None

    def _stale(
        self, desk: Desk, checkpoint: Checkpoint, resumed: Resumed | str, prices: dict[str, float]
    ) -> dict[str, RiskVerdict | OrdersPlanned]:
        """A judgement stored before the checkpoint's deadline and not traded by it, decided: refused (STALE), its
        position kept, nothing planned. It was made at this checkpoint's prices; the next checkpoint judges at its own,
        as run-due's closing of it has it ("judged, not traded")."""
        deadline = market_time(self.bench.deadline) if self.bench.deadline else "its deadline"
        reason = (
            f"{STALE}: judged at {self.slot.label} and not traded by the checkpoint's deadline {deadline}; not traded "
            "at later prices (the next checkpoint judges at its own)"
        )
        return self._kept(desk, checkpoint, resumed, prices[checkpoint.instrument], reason)

    def _kept(
        self, desk: Desk, checkpoint: Checkpoint, resumed: Resumed | str, price: float | None, reason: str
    ) -> dict[str, RiskVerdict | OrdersPlanned]:
        """A judgement decided not traded, for `reason`: refused, its position kept (`resumed`'s), nothing planned.
        `price`: the one it was judged at when none is there now (a verdict records one; 0.0 only for a checkpoint
        stored before they recorded their price and its indicators' close)."""
        account = resumed.account if isinstance(resumed, Resumed) else None
        position = account.positions.get(checkpoint.instrument) if account is not None else None
        verdict = RiskVerdict(
            account_id=desk.account.id,
            instrument=checkpoint.instrument,
            target_qty=position.qty if position else 0,
            approved=False,
            reason=reason,
            price=price or 0.0,
            adjustments=[],
        )
        positions = account.positions if account is not None else {}
        plan = OrdersPlanned(account_id=desk.account.id, broker=desk.broker.name, orders=[], positions_before=positions)
        return {"verdict": verdict, "orders": plan}

    def _unsent(self, plan: OrdersPlanned) -> bool:
        """Whether an order of `plan` is not on the week's orders stream yet, nor given up there (read only when its
        price is missing): one given up is never sent, so nothing waits for it."""
        return bool(unsent(self.bench.events, plan, week_stream(self.bench.week_id, ORDERS)))

    def _decide(
        self, desk: Desk, checkpoint: Checkpoint, sized: Resumed, context: PipelineContext
    ) -> tuple[RiskVerdict, OrdersPlanned]:
        """The verdict and plan of `checkpoint`'s judgement, sized from `sized` (the account, its instrument's
        suspect last bar and its price's age, read by prepare), at the run's PRICES (PRICE_AGES: those old closes)."""
        prices, ages = context.get(PRICES), context.get(PRICE_AGES)
        bench, account_id, instrument, account = self.bench, desk.account.id, checkpoint.instrument, sized.account
        position = account.positions.get(instrument)
        held = position.qty if position else 0
        action = checkpoint.action
        direction = "FLAT" if action == "EXIT" else ("LONG" if checkpoint.conviction_after > 0 else "SHORT")
        intent = TradeIntent(
            account_id=account_id,
            instrument=instrument,
            direction=direction,
            conviction=checkpoint.conviction_after,
            source=f"checkpoint:{checkpoint.checkpoint_id}",
        )
        stop, why = halted(bench.events, account_id)
        verdict = risk.check(
            intent,
            account,
            prices[instrument],
            assets=bench.config.assets,
            risk=bench.config.risk,
            prices=prices,
            broker_shortable=desk.broker.is_shortable(instrument) if direction == "SHORT" else True,
            halted=stop,
            halt_reason=why,
            suspect=sized.suspect,
            age=sized.age,  # a quiet symbol's last close, sessions old (risk/stale.py): no open or add sized off it
            mark_ages=ages,  # the same of the marks the account's other positions are valued at: counted carefully
            ended_closes={s: b.close for s, b in context.get(LAST_CLOSES).items()},  # of ended prices: the same
        )
        if stop and not self.dry_run:
            source = f"checkpoint {checkpoint.checkpoint_id}"
            record_shadow_trade(
                bench.events,
                desk,
                bench.config,
                verdict,
                prices,
                roll=False,
                source=source,
                at=bench.made_in_session(),  # once the owner's judgement is in: minutes after the run's start, live
                week_id=bench.week_id,
                run_id=bench.run_id,
            )
        if verdict.approved and action == "REDUCE":
            # REDUCE halves what is held, unless the gate's limits want even less.
            half = int(held / 2)
            target = half if abs(half) <= abs(verdict.target_qty) else verdict.target_qty
            verdict = verdict.model_copy(update={"target_qty": target, "reason": f"REDUCE halves {held} to {target}"})
        target = verdict.target_qty if verdict.approved else held
        orders = plan_orders(
            bench.week_id, account_id, {instrument: position} if position else {}, instrument, target, tag=self.slot.tag
        )
        plan = OrdersPlanned(
            account_id=account_id, broker=desk.broker.name, orders=orders, positions_before=account.positions
        )
        return verdict, plan

    def _store(self, decided: list[Outcome]) -> None:
        """Each decision follows its account's judgement (version 1) on the account's checkpoint stream."""
        bench = self.bench
        batch = [
            NewEvent.of(
                payload,
                stream=self.slot.stream(bench.week_id, o.account_id),
                week_id=bench.week_id,
                run_id=bench.run_id,
                account_id=o.account_id,
            )
            for o in decided
            for payload in (RiskChecked(verdict=o.verdict), o.orders)
            if payload is not None
        ]
        bench.events.append(batch, expected_versions={event.stream: 1 for event in batch})


class ExecuteStage:
    name = "execute"
    reads = (OUTCOMES, PRICES, PRICE_AGES, LAST_CLOSES, DEFERRED, UNDECIDED, NOT_SENT)
    writes = (SENT, ABANDONED, UNFINISHED, SUPERSEDED)
    overlaps = False

    def __init__(self, bench: Workbench, *, dry_run: bool):
        self.bench = bench
        self.dry_run = dry_run

    async def run(self, context: PipelineContext) -> PipelineContext:
        if self.dry_run:
            return context.with_values((SENT, []), (ABANDONED, []), (UNFINISHED, []), (SUPERSEDED, []))  # sends nothing
        bench = self.bench
        stream = week_stream(bench.week_id, ORDERS)
        # An account skipped with a plan (its orders given up for a price no provider gives in this session) sends none.
        plans = [o.orders for o in context.get(OUTCOMES) if o.orders is not None and o.skipped is None]
        # The week's orders left undone (refused, or a leg waiting for its close) go first, their price's age checked
        # again (send_checks.py), unless this checkpoint planned the account anew: its plan starts from what it holds.
        # An account waiting for a price resumes nothing now: its orders' valuation after a fill reads its prices. Nor
        # does one whose orders were given up for a price no provider gives in this session (its week's other undone
        # orders are of that instrument too, or wait for the next checkpoint, which looks at its prices again).
        waiting = context.get(DEFERRED).keys() | context.get(UNDECIDED).keys() | context.get(NOT_SENT).keys()
        desks = {d.account.id: d for d in bench.desks if d.account.id not in waiting}
        resumed = await resume_unfinished(
            bench.events,
            desks,
            bench.config,
            context.get(PRICES),
            stream=stream,
            week_id=bench.week_id,
            run_id=bench.run_id,
            superseded=frozenset(p.account_id for p in plans if p.orders),
            own=frozenset(o.client_order_id for p in plans for o in p.orders),
            last_closes=context.get(LAST_CLOSES),
            ages=context.get(PRICE_AGES),
        )
        # Most checkpoints plan no order: execute_plans would read the week's orders stream twice to report that
        # nothing was sent, abandoned or refused (a plan without orders is never sent nor abandoned).
        execution = Execution(already_sent=False, abandoned=[], unfinished=[])
        if any(p.orders for p in plans):
            execution = await execute_plans(
                bench.events,
                desks,
                plans,
                bench.config,
                context.get(PRICES),
                stream=stream,
                week_id=bench.week_id,
                run_id=bench.run_id,
                last_closes=context.get(LAST_CLOSES),
                ages=context.get(PRICE_AGES),
            )
        ours = {order.client_order_id for plan in plans for order in plan.orders}
        # Most checkpoints plan nothing: then nothing of theirs is on the week's orders stream to read back.
        sent = [r for r in recorded_orders(bench.events, stream) if r.order.client_order_id in ours] if ours else []
        unfinished = resumed.notes + execution.unfinished
        result = context.with_values(
            (SENT, sent),
            (ABANDONED, execution.abandoned),
            (UNFINISHED, unfinished),
            (SUPERSEDED, resumed.superseded),
        )
        return result.with_loaded(self.name) if execution.already_sent and not unfinished else result


class CompleteStage:
    """The checkpoint's marker: `run-due` and `schedule` count the checkpoint done once it is written, with the run's
    end (handed on: workflows/completion.py)."""

    name = "complete"
    reads = (DEFERRED, UNDECIDED)
    writes = (COMPLETION,)
    overlaps = False

    def __init__(self, bench: Workbench, slot: Slot, *, dry_run: bool):
        self.bench = bench
        self.slot = slot
        self.dry_run = dry_run

    async def run(self, context: PipelineContext) -> PipelineContext:
        bench = self.bench
        marker = self.slot.stream(bench.week_id)
        waiting = {**context.get(DEFERRED), **context.get(UNDECIDED)}
        if waiting:
            self._defer(waiting)
        if self.dry_run:
            return context.with_value(COMPLETION, NONE)
        if bench.events.read_stream(marker):
            return context.with_value(COMPLETION, NONE).with_loaded(self.name)
        completed = CheckpointCompleted(
            week_id=bench.week_id, day=self.slot.day, time=self.slot.label, run_id=bench.run_id
        )
        # Recorded with the run's end (workflows/completion.py): a stop between the two left the run failed for good.
        event = NewEvent.of(completed, stream=marker, week_id=bench.week_id, run_id=bench.run_id)
        return context.with_value(COMPLETION, Completion(events=(event,), expected_versions={marker: 0}))

    def _defer(self, waiting: dict[str, str]) -> None:
        """StageDeferred on the checkpoint's held stream, then exit 75: the checkpoint is not complete."""
        bench = self.bench
        reasons = [f"{account_id}: {why}" for account_id, why in waiting.items()]
        if not self.dry_run:
            record_deferred(bench, self.slot, "prepare", list(waiting), reasons)
        # No deadline skips them (a skip is final, and a price may come back): said, so nobody takes the exit for a
        # stop that was checked. A refused far price seen again at a later checkpoint is taken (market/quote_checks.py).
        until = f"until {bench.deadline.isoformat()}, then the next scheduled checkpoint" if bench.deadline else ""
        raise Waiting(
            f"checkpoint {self.slot.day} {self.slot.label}: not judged yet, holding a symbol without a price now: "
            f"{'; '.join(reasons)}; the other accounts are done. A rerun judges these {until or 'on every rerun'}; "
            "until their symbol has a price, none of their stops is checked and nothing of theirs is traded"
        )
