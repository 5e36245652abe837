"""One checkpoint run inside a job's storage and week lock: the scheduled checkpoint and the event one.

`jobs.checkpoint` (a configured time, every account) and `event_checkpoints` (a price move, one account)
share this, so an event checkpoint is the same pipeline with the same stages and frozen inputs."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from llmtrade.app.checkpoint_deadlines import checkpoint_deadline
from llmtrade.app.container import Container
from llmtrade.app.outcomes import checkpoint_result, order_refusals
from llmtrade.app.results import CheckpointResult
from llmtrade.app.runs import execute, start_run
from llmtrade.brokers.fills import replaced_notes
from llmtrade.brokers.order_ends import ended_notes, unlisted_notes
from llmtrade.brokers.overfills import overfilled_notes
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.checkpoint import OUTCOMES, CheckpointRun
from llmtrade.workflows.checkpoint_prepare import ASKING, NO_SESSION, NOT_SENT
from llmtrade.workflows.checkpoint_skips import STOP_WAITS, UNPRICED_FOR_GOOD
from llmtrade.workflows.checkpoint_slot import Slot
from llmtrade.workflows.checkpoint_unpriced import NO_SESSION_PRICE, no_session_price
from llmtrade.workflows.completion import completion_of
from llmtrade.workflows.execution import ABANDONED, UNFINISHED, abandonment_note
from llmtrade.workflows.legs import SUPERSEDED, held_back_notes


def run_checkpoint(
    app: Container,
    storage: Storage,
    *,
    week_id: date,
    slot: Slot,
    now: datetime,
    dry_run: bool,
    arguments: dict[str, Any],
) -> CheckpointResult:
    """The checkpoint `slot` of `week_id`; the caller holds the week lock. An event slot (`event_for`)
    judges that account alone: the workbench keeps its desk only, and nothing else changes."""
    session = app.session(storage)
    deadline = checkpoint_deadline(app, week_id, slot.day, slot.time)
    bench = app.workbench(storage, session, week_id=week_id, now=now, deadline=deadline)
    if slot.event_for is not None:
        bench = replace(bench, desks=[d for d in bench.desks if d.account.id == slot.event_for])
    already = bool(storage.events.read_stream(slot.stream(week_id)))
    run = start_run(session, run_id=bench.run_id, command="checkpoint", arguments=arguments, week_id=week_id)
    with run.ends_recorded():
        job = CheckpointRun(bench, day=slot.day, time=slot.time, dry_run=dry_run, event_for=slot.event_for)
        done = execute(job.run_pipeline(), session, run)
        gone = done.get(ABANDONED)
        abandoned = [abandonment_note(a) for a in gone]
        for note in abandoned:
            app.warning(note)
        # A whole plan given up skips the account's part of the checkpoint; an order given up alone (a leg whose close
        # ended, one no longer valid) does not: its decision stands and its plan's other orders went. Each is said.
        whole = {a.account_id: note for a, note in zip(gone, abandoned, strict=True) if a.whole_plan}
        outcomes = [replace(o, skipped=whole[o.account_id]) if o.account_id in whole else o for o in done.get(OUTCOMES)]
        failed = [
            o
            for o in outcomes
            if o.skipped and o.skipped.startswith(("owner failed", UNPRICED_FOR_GOOD, NO_SESSION_PRICE))
        ]
        # The accounts holding a symbol no provider can price in this session (a CSV folder of daily files only): one
        # line for them all, the cause said once, where a line each said it five times over.
        # Those judged by a run that stopped before deciding or sending (`NOT_SENT`) are in it too, judged, not traded.
        never = done.get(NO_SESSION) if done.has(NO_SESSION) else {}
        if never and not already:
            symbols = {s: why for held in never.values() for s, why in held.items()}
            decided = done.get(NOT_SENT) if done.has(NOT_SENT) else {}
            unjudged = [a for a in never if a not in decided]
            who = "; ".join(
                f"{', '.join(accounts)} {how}"
                for accounts, how in (
                    (unjudged, "not judged"),
                    ([a for a in never if a in decided], "judged, not traded"),
                )
                if accounts
            )
            said = no_session_price(symbols, judged=not unjudged)
            app.warning(f"checkpoint {slot.day} {slot.label}: {who}: {said}")
        for o in failed if not already else []:  # said once, by the run that stored it, under -q too
            if o.account_id not in never:
                app.warning(f"checkpoint {slot.day} {slot.label}: {o.account_id} not judged: {o.skipped}")
        # A stop that holds with its exit waiting for an order of llmtrade's that may still fill (a cancel stuck at the
        # broker): said at every checkpoint until it exits, a degraded run (the position is not protected meanwhile).
        waiting = [o for o in outcomes if o.skipped and o.skipped.startswith(STOP_WAITS)]
        for o in waiting:
            app.warning(f"checkpoint {slot.day} {slot.label}: {o.account_id}: {o.skipped}")
        failed += waiting
        # Orders refused: resent by a rerun or the next checkpoint (workflows/legs.py), and a degraded run.
        # With the orders the broker accepted and then ended unfilled (rejected at the open, expired), recorded by this
        # run.
        unfinished = [*done.get(UNFINISHED), *ended_notes(storage.events, bench.run_id)] if not dry_run else []
        for note in unfinished:
            app.warning(note)
        # Orders replaced outside llmtrade that filled in its place: said, not degraded (the trade happened).
        for note in [] if dry_run else replaced_notes(storage.events, bench.run_id):
            app.warning(note)
        # Orders the broker takes as working but shows nowhere (replaced by one Alpaca does not show): said once.
        for note in [] if dry_run else unlisted_notes(storage.events, bench.run_id):
            app.warning(note)
        # Orders that filled more than llmtrade sent them for (a part filled order replaced whole): said once.
        for note in [] if dry_run else overfilled_notes(storage.events, bench.run_id):
            app.warning(note)
        # Legs held back for their close are the design working: reported, not degraded.
        held_back = [] if dry_run else held_back_notes(storage.events, week_stream(week_id, ORDERS), slot.event_for)
        for note in held_back:
            app.say(note)
        # The week's orders left undone that this checkpoint's newer plan replaced: said once, by the run that gave them
        # up (a repeat finds none), and not degraded: the account's new plan is the one it trades now.
        superseded = [] if dry_run else done.get(SUPERSEDED)
        for note in superseded:
            app.say(note)
        # One list decides both what is said as DEGRADED and what RunFinished records: they once disagreed (a trial).
        degraded = [f"{o.account_id}: {o.skipped}" for o in failed] + abandoned + unfinished
        # The accounts judged now by the model that made their trade, models.yaml naming another for them since.
        kept = [p.frozen.note for p in (done.get(ASKING) if done.has(ASKING) else []) if p.frozen.note]
        completion = completion_of(done)  # its marker, recorded with the run's end (workflows/completion.py)
        duration = run.finished(
            session.gateway.totals,
            degraded=bool(degraded),
            with_events=completion.events,
            expected_versions=completion.expected_versions or None,
        )
    return checkpoint_result(
        outcomes,
        week_id=week_id,
        day=slot.day,
        time=slot.label,
        run_id=bench.run_id,
        mode=app.mode.value,
        dry_run=dry_run,
        repeated=already,
        totals=session.gateway.totals,
        duration_ms=duration,
        refused=order_refusals(storage.events, week_id),
        held_back=held_back,
        superseded=superseded,
        degraded=degraded,
        models_kept=kept,
    )
