"""The checkpoint's first two stages: prepare each account (in code), then ask the owners.

prepare: prices now; for every account whose checkpoint is not stored yet, its valuation (the
breaker sees it), the week's frozen trade, the watched indicators now, and the machine-checkable
invalidation rule, evaluated in code. Accounts with nothing to judge are skipped with a reason; one holding a
symbol without a price now is deferred: nothing stored, judged by a rerun (exit 75: checkpoint_trade.py).
ask: the owners of the prepared accounts, in parallel (an account whose rule holds exits without
asking anyone). Each account's checkpoint (CheckpointTaken, or CheckpointSkipped) is the first event
of its write-once stream, stored before anything is decided, so a rerun never asks an owner twice.
An owner whose call failed for a temporary reason is retried by reruns until the checkpoint's deadline
(schedule.yaml `retry_until`; see AskStage.run), never frozen as skipped before it.
An owner whose call stopped the run (a budget spent, a replay miss) is not stored either: the others' judgements
are, before the stop is raised, so the rerun asks only the owners it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmtrade.agents import checkpointer
from llmtrade.brokers.fills import look_at
from llmtrade.brokers.reconcile import look, record_differences
from llmtrade.config.models import AccountRole
from llmtrade.domain.checkpoints import (
    Checkpoint,
    CheckpointAnswer,
    CheckpointSkipped,
    CheckpointTaken,
)
from llmtrade.domain.events import EventPayload, InputsMissing, NewEvent, StageDeferred, StoredEvent
from llmtrade.domain.market import IndicatorSet, Quote
from llmtrade.domain.streams import held_stream
from llmtrade.domain.trading import AccountSnapshot
from llmtrade.errors import LlmtradeError, PromptError, TemporaryError
from llmtrade.fanout import MemberStopped, first_stop, gather_settled
from llmtrade.llm.gateway import CallSite
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.pipeline.retry import is_temporary
from llmtrade.workflows.broker_splits import SeenSplits, before_a_split
from llmtrade.workflows.checkpoint_slot import Outcome, Slot, outcome_from
from llmtrade.workflows.convictions import conviction_now
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import PRICES, queued_order_ids, value_account
from llmtrade.workflows.frozen_trade import (
    FrozenTrade,
    current_prices,
    frozen_events,
    frozen_trade,
    indicator_values,
    priced_quotes,
    through_splits,
)
from llmtrade.workflows.memory_stages import position_memory
from llmtrade.workflows.workbench import Workbench


@dataclass(frozen=True)
class Prepared:
    """An account ready to be judged: everything its owner is shown, computed in code."""

    desk: Desk
    account: AccountSnapshot
    frozen: FrozenTrade
    values: dict[str, float | None]
    before: int
    pnl_pct: float
    triggered: bool
    flipped: bool
    quote: Quote | None = None  # the instrument's price now, dated, with its source
    # What the instrument's last bar looks like when the price is that bar's close and not one to size off (a split-like
    # jump, or twice or half the close before: market/jumps.py), for the risk gate (SUSPECT_PRICE); None otherwise.
    suspect: str | None = None


STORED = ContextKey("checkpoint_stored", dict[str, Outcome])  # accounts whose checkpoint a run stored earlier
ASKING = ContextKey("checkpoint_asking", list[Prepared])  # accounts whose owner (or rule) judges now
SKIPS = ContextKey("checkpoint_skips", dict[str, str])  # accounts skipped now, and why
DEFERRED = ContextKey("checkpoint_deferred", dict[str, str])  # accounts holding a symbol without a price now
ANSWERED = ContextKey("checkpoint_answered", dict[str, Outcome])  # every account, judged or skipped
# Why an account holding a symbol taken out of assets.yaml mid-week is skipped: its position is judged by no one.
UNPRICED_HELD = "is held but no longer in assets.yaml's universe"


class PrepareStage:
    name = "prepare"
    reads = ()
    writes = (PRICES, STORED, ASKING, SKIPS, DEFERRED)
    overlaps = False

    def __init__(self, bench: Workbench, slot: Slot, *, dry_run: bool):
        self.bench = bench
        self.slot = slot
        self.dry_run = dry_run
        self._quotes: dict[str, Quote] = {}
        self._problems: dict[str, str] = {}  # why each symbol of the universe without a price now has none
        # This run's indicator sets by symbol: every account is judged at the same `now`.
        self._indicators: dict[str, IndicatorSet] = {}
        self._suspects: dict[str, str | None] = {}  # by symbol, read with `_indicators`
        self._frozen: dict[bool, list[StoredEvent]] = {}  # the week's pitches (False) or decision (True)
        self._splits = SeenSplits(bench.events, bench.week_id, dry_run=dry_run)

    async def run(self, context: PipelineContext) -> PipelineContext:
        bench = self.bench
        symbols = bench.config.assets.symbols
        quotes, problems = priced_quotes(bench.quotes, symbols, bench.now) if bench.quotes else ({}, {})
        # With a quote service, only what it priced: a symbol it could not price has no price (not a daily one).
        prices = (
            {s: q.price for s, q in quotes.items()}
            if bench.quotes
            else current_prices(bench.market, symbols, bench.now)
        )
        self._quotes, self._problems = quotes, problems
        self._indicators = {}
        self._suspects = {}
        self._frozen = {}
        stored: dict[str, Outcome] = {}
        asking: list[Prepared] = []
        skips: dict[str, str] = {}
        deferred: dict[str, str] = {}
        for desk in bench.desks:
            account_id = desk.account.id
            found = bench.events.read_stream(self.slot.stream(bench.week_id, account_id))
            if found:
                stored[account_id] = outcome_from(account_id, found)  # judged by an earlier run: not again
                continue
            prepared = self._prepare(desk, prices)
            if isinstance(prepared, Unpriced):
                deferred[account_id] = prepared.why
            elif isinstance(prepared, str):
                skips[account_id] = prepared
            else:
                asking.append(prepared)
        result = context.with_values(
            (PRICES, prices), (STORED, stored), (ASKING, asking), (SKIPS, skips), (DEFERRED, deferred)
        )
        return result if asking or skips else result.with_loaded(self.name)

    def _prepare(self, desk: Desk, prices: dict[str, float]) -> Prepared | str | Unpriced:
        """The account ready to be judged, or why there is nothing to judge, or what it holds without a price."""
        bench = self.bench
        if desk.account.role is AccountRole.FLAT:
            return "FLAT baseline: never trades"
        # One look at the broker's account, orders and fills (in that order, as reconciliation reads them) serves the
        # reconciliation, the queue check and the valuation: nothing between them changes the broker's books. Valued in
        # the new shares of a split an earlier look recorded (a paper account holding it is split from midnight on).
        valued = self._splits.read_at(desk.account.id, prices, bench.market.calendar, bench.now)
        snapshot, observed = look_at(desk.broker, valued)
        # Before anything of the look is recorded (valuation, stop and indicators read the prices of what is held).
        # Only the universe is priced: a symbol held outside it is valued as before (at its cost), not waited for.
        unpriced = [s for s, p in snapshot.positions.items() if p.qty and s in self._problems]
        if unpriced:
            return Unpriced("; ".join(f"{s} ({self._problems[s]})" for s in unpriced))
        # reconcile_account's look, kept whole: its order ids serve the valuation too.
        seen = look(bench.events, desk.broker, snapshot, valued, observed=observed)
        self._splits.record(seen, desk.broker.name, bench.now, valued, bench.run_id)
        if not self.dry_run:
            occasion = f"checkpoint {self.slot.day} {self.slot.time}"
            record_differences(
                bench.events,
                desk.account.id,
                seen.differences,
                occasion=occasion,
                week_id=bench.week_id,
                run_id=bench.run_id,
            )
        account = seen.managed
        if queued_order_ids(desk, observed.orders):
            return "orders still queued for the open: nothing to judge yet"
        if not self.dry_run:
            value_account(
                bench.events,
                desk,
                account,
                bench.config,
                occasion=f"checkpoint {self.slot.day} {self.slot.label}",
                week_id=bench.week_id,
                run_id=bench.run_id,
                observed=observed,
                ours=seen.planned,
            )
        chair = desk.account.role is AccountRole.CHAIRMAN  # the week's frozen events: read once per checkpoint
        if chair not in self._frozen:
            self._frozen[chair] = frozen_events(bench.events, bench.week_id, desk.account.role)
        frozen = frozen_trade(bench.events, bench.week_id, desk, bench.config, found=self._frozen[chair])
        if frozen is None:
            return "no trade frozen for this week (was run-weekly run?)"
        splits = self._splits.splits(desk.account.id)
        frozen = through_splits(frozen, splits, bench.now)
        position = account.positions.get(frozen.instrument)
        if position is None or position.qty == 0:
            return f"flat: no {frozen.instrument} position held"
        price = prices.get(frozen.instrument)
        if price is None:
            # Taken out of assets.yaml's universe mid-week while held: a bare KeyError failed every account's
            # checkpoint, wake-up after wake-up (an operator's trial). Only the universe is priced; this one is said.
            return (
                f"{frozen.instrument} {UNPRICED_HELD}: not priced, so not judged (put it back to have it judged, or "
                "close the position by hand)"
            )
        if splits and before_a_split(bench.market.calendar, bench.now, frozen.instrument, price, splits):
            # The broker split the position before the open; this run's price (the last close) and the bars are
            # still in the old shares: a stop moved by the split would fire, the P/L read +300%. Its next prices are.
            return f"{frozen.instrument} split at the broker after this checkpoint's prices: judged at the next one"
        pnl_pct = (price / position.avg_price - 1) * (1 if position.qty > 0 else -1)
        values = indicator_values(
            bench.market, frozen.instrument, bench.now, price, pnl_pct, held=self._indicators, suspects=self._suspects
        )
        before = conviction_now(bench.events, bench.week_id, desk.account.id, frozen)
        if before == 0 or (before > 0) != (position.qty > 0):
            before = 1 if position.qty > 0 else -1  # the position is the truth; conviction follows its side
        # After a FLIP the frozen stop and thresholds argue for the other side: they no longer apply.
        flipped = (position.qty > 0) != (frozen.conviction > 0)
        rule = frozen.invalidation.rule
        observed = values.get(rule.indicator)
        triggered = not flipped and observed is not None and rule.holds(observed)
        quote = self._quotes.get(frozen.instrument)
        # While the market is closed the price is the last bar's close (no quote: the closes themselves).
        suspect = self._suspects.get(frozen.instrument) if quote is None or quote.kind == "close" else None
        return Prepared(desk, account, frozen, values, before, pnl_pct, triggered, flipped, quote, suspect)


@dataclass(frozen=True)
class Unpriced:
    why: str  # an account not judged now: the symbols it holds without a price, and why each has none


def record_deferred(bench: Workbench, slot: Slot, stage: str, waiting: list[str], reasons: list[str]) -> None:
    """StageDeferred on the checkpoint's held stream: the accounts `waiting` (why: `reasons`) are judged by a rerun
    until the checkpoint's deadline, so the checkpoint is not complete (no marker)."""
    deferred = StageDeferred(stage=stage, waiting=waiting, errors=reasons, deadline=bench.deadline)
    stream = held_stream(slot.stream(bench.week_id))
    bench.events.append([NewEvent.of(deferred, stream=stream, week_id=bench.week_id, run_id=bench.run_id)])


class AskStage:
    name = "ask"
    reads = (STORED, ASKING, SKIPS)
    writes = (ANSWERED,)
    overlaps = False

    def __init__(self, bench: Workbench, slot: Slot, *, dry_run: bool):
        self.bench = bench
        self.slot = slot
        self.dry_run = dry_run

    async def run(self, context: PipelineContext) -> PipelineContext:
        """Ask the prepared accounts' owners; store every account's judgement (or skip) on its stream.

        An owner whose call failed for a temporary reason is not stored as skipped before the checkpoint's
        deadline (the bench's window): the others are stored, StageDeferred is recorded and a
        TemporaryError (exit 75) stops the run, so a rerun asks that owner alone (the others' streams are
        loaded, never asked again). From the deadline on it is stored as skipped, with InputsMissing."""
        asking = context.get(ASKING)
        templates = self._templates(asking)
        # A template failing is its owner's failure, not a stop: the accounts whose rule fired exit all the same.
        # A stop (a budget spent, a replay miss) is handed back, not raised, so the others' answers (paid for) are
        # stored before it ends the run: the rerun asks only the owners it stopped.
        answered, failed = await gather_settled(
            [p.desk.account.id for p in asking],
            [self._ask(p, templates) for p in asking],
            prompt_fails_one=True,
            hold_on_stop=True,
        )
        stop = first_stop(error for _, error in failed)
        stopped = {account_id for account_id, error in failed if isinstance(error, MemberStopped)}
        answers = dict(answered)
        temporary = {account_id: error for account_id, error in failed if is_temporary(error)}
        waiting = temporary if self.bench.window.open else {}
        new: dict[str, Outcome] = {}
        for prepared in asking:
            account_id = prepared.desk.account.id
            if account_id in answers:
                new[account_id] = Outcome(account_id, self._checkpoint(prepared, answers[account_id]), None, None, None)
        for account_id, error in failed:
            if account_id in waiting or account_id in stopped:
                continue
            late = " (still unavailable at the deadline)" if account_id in temporary else ""
            new[account_id] = Outcome(account_id, None, f"owner failed to answer{late}: {error}", None, None)
        for account_id, reason in context.get(SKIPS).items():
            new[account_id] = Outcome(account_id, None, reason, None, None)
        if new and not self.dry_run:
            self._store(new, {a: e for a, e in temporary.items() if a not in waiting})
        if stop is not None:
            if new and not self.dry_run:
                stop.add_note(
                    f"checkpoint {self.slot.day} {self.slot.label}: stored the judgement of {', '.join(new)}; "
                    f"the rerun asks only the owner(s) of {', '.join(sorted(stopped))}"
                )
            raise stop
        if waiting:
            self._defer(waiting)
        result = context.with_value(ANSWERED, {**context.get(STORED), **new})
        return result if new else result.with_loaded(self.name)

    def _templates(self, asking: list[Prepared]) -> checkpointer.Templates | None:
        """The prompt's templates, read once for every owner asked now (None: nobody is asked, or reading them failed:
        then each owner's ask reads them itself and fails as that owner's failure, `_ask`)."""
        if all(p.triggered for p in asking):
            return None
        try:
            return checkpointer.read_templates(self.bench.prompts)
        except PromptError:
            return None

    def _defer(self, waiting: dict[str, LlmtradeError]) -> None:
        bench = self.bench
        reasons = [f"{account_id}: {type(error).__name__}: {error}" for account_id, error in waiting.items()]
        if not self.dry_run:
            record_deferred(bench, self.slot, self.name, list(waiting), reasons)
        until = f"until {bench.deadline.isoformat()}" if bench.deadline else "on every rerun"
        raise TemporaryError(
            f"checkpoint {self.slot.day} {self.slot.label}: waiting for the owner(s) of {', '.join(waiting)} "
            f"({'; '.join(reasons)}); the other accounts are stored. A rerun asks them again {until}, "
            "then skips them"
        )

    def _store(self, new: dict[str, Outcome], missing: dict[str, LlmtradeError]) -> None:
        """Each account's judgement opens its checkpoint stream; all accounts in one transaction.
        `missing`: accounts whose owner was still unavailable at the deadline (InputsMissing follows)."""
        bench = self.bench
        batch = []
        for account_id, outcome in new.items():
            payload: EventPayload = (
                CheckpointTaken(checkpoint=outcome.checkpoint)
                if outcome.checkpoint is not None
                else CheckpointSkipped(account_id=account_id, reason=outcome.skipped or "")
            )
            stream = self.slot.stream(bench.week_id, account_id)
            batch.append(
                NewEvent.of(payload, stream=stream, week_id=bench.week_id, run_id=bench.run_id, account_id=account_id)
            )
            if account_id in missing:
                gap = InputsMissing(
                    stage=self.name,
                    missing=[account_id],
                    errors=[f"{account_id}: {type(missing[account_id]).__name__}: {missing[account_id]}"],
                    deadline=bench.deadline,
                )
                batch.append(
                    NewEvent.of(gap, stream=stream, week_id=bench.week_id, run_id=bench.run_id, account_id=account_id)
                )
        bench.events.append(batch, expected_versions={event.stream: 0 for event in batch})

    async def _ask(self, prepared: Prepared, templates: checkpointer.Templates | None) -> CheckpointAnswer:
        if prepared.triggered:
            rule = prepared.frozen.invalidation.rule
            reason = f"invalidation rule holds: {rule.describe()} (now {prepared.values.get(rule.indicator):.4g})"
            return CheckpointAnswer(action="EXIT", conviction_after=0, reason_delta=reason)
        bench = self.bench
        site = CallSite(
            role=checkpointer.ROLE, run_id=bench.run_id, week_id=bench.week_id, account_id=prepared.desk.account.id
        )
        direction = "LONG" if prepared.before > 0 else "SHORT"
        memory = position_memory(
            bench,
            account_id=prepared.desk.account.id,
            instrument=prepared.frozen.instrument,
            direction=direction,
            conviction=prepared.before,
            thesis=prepared.frozen.thesis,
        )
        return await checkpointer.check(
            bench.gateway,
            bench.prompts,
            prepared.frozen.owner,
            instrument=prepared.frozen.instrument,
            direction=direction,
            conviction=prepared.before,
            thesis=(
                [f"Flipped at an earlier checkpoint against Wednesday's thesis: {b}" for b in prepared.frozen.thesis]
                if prepared.flipped
                else prepared.frozen.thesis
            ),
            watched=[] if prepared.flipped else prepared.frozen.watched,
            values=prepared.values,
            pnl_pct=prepared.pnl_pct,
            time=self.slot.time,
            site=site,
            memory=memory,
            templates=templates,
        )

    def _checkpoint(self, prepared: Prepared, answer: CheckpointAnswer) -> Checkpoint:
        bench, account_id = self.bench, prepared.desk.account.id
        return Checkpoint(
            checkpoint_id=f"{bench.week_id}:{self.slot.day}T{self.slot.label}:{account_id}",
            week_id=bench.week_id,
            day=self.slot.day,
            time=self.slot.time,
            account_id=account_id,
            instrument=prepared.frozen.instrument,
            conviction_before=prepared.before,
            conviction_after=answer.conviction_after,
            action=answer.action,
            reason_delta=answer.reason_delta,
            indicators_snapshot=prepared.values,
            price=prepared.quote,
            invalidation_triggered=prepared.triggered,
            decided_by="invalidation_rule" if prepared.triggered else "owner",
        )
