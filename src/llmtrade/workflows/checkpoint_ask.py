"""The checkpoint's second stage, ask: the owners of the accounts prepare made ready (checkpoint_prepare.py), in
parallel (an account whose rule holds exits without asking anyone). Each account's checkpoint (CheckpointTaken, or
CheckpointSkipped) is the first event of its write-once stream, stored before anything is decided, so a rerun never
asks an owner twice. An owner whose call failed for a temporary reason is retried by reruns until the checkpoint's
deadline (schedule.yaml `retry_until`; see AskStage.run), never frozen as skipped before it. An owner whose call
stopped the run (a budget spent, a replay miss) is not stored either: the others' judgements are, before the stop is
raised, so the rerun asks only the owners it stopped.
"""

from __future__ import annotations

from llmtrade.agents import checkpointer
from llmtrade.domain.checkpoints import (
    Checkpoint,
    CheckpointAnswer,
    CheckpointSkipped,
    CheckpointTaken,
)
from llmtrade.domain.events import EventPayload, InputsMissing, NewEvent
from llmtrade.errors import LlmtradeError, PromptError, Waiting
from llmtrade.fanout import MemberStopped, first_stop, gather_settled
from llmtrade.llm.gateway import CallSite
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.pipeline.retry import is_temporary
from llmtrade.workflows.checkpoint_prepare import ASKING, SKIPS, STORED, Prepared
from llmtrade.workflows.checkpoint_skips import record_deferred
from llmtrade.workflows.checkpoint_slot import Outcome, Slot
from llmtrade.workflows.memory_stages import position_memory
from llmtrade.workflows.workbench import Workbench

ANSWERED = ContextKey("checkpoint_answered", dict[str, Outcome])  # every account, judged or skipped


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
            again = sorted(stopped | waiting.keys())  # an owner waited for is asked again too, as ever
            if waiting and not self.dry_run:
                reasons = [f"{account_id}: {type(error).__name__}: {error}" for account_id, error in waiting.items()]
                record_deferred(self.bench, self.slot, self.name, list(waiting), reasons)
            if new and not self.dry_run:
                stop.add_note(
                    f"checkpoint {self.slot.day} {self.slot.label}: stored the judgement of {', '.join(new)}; "
                    f"the rerun asks only the owner(s) of {', '.join(again)}"
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
        raise Waiting(
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
        # Kept in the week's universe only because an account holds it, or in no universe at all (taken out of
        # assets.yaml while held): either way the gate lets it be closed or cut, nothing more (risk/gate.py).
        instrument = bench.config.assets.instrument(prepared.frozen.instrument)
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
            close_only=instrument is None or instrument.held_only,
            outside=instrument is None,
            age=prepared.age,  # a quiet symbol's close, sessions old: said when too old to size off
        )

    def _checkpoint(self, prepared: Prepared, answer: CheckpointAnswer) -> Checkpoint:
        bench, account_id = self.bench, prepared.desk.account.id
        return Checkpoint(
            checkpoint_id=self.slot.checkpoint_id(bench.week_id, account_id),
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
