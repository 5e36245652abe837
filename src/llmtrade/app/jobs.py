"""The jobs cron runs: the weekly run, a checkpoint, the postmortem (run-due: app/due_run.py; a breaker reset:
app/breaker_reset.py).

The CLI's commands and `run-due` both call these, so a job run by hand and a job run by the
scheduler are the same code. Each takes the invocation's Container (mode decided once, everything
built there) and returns a typed result; messages meant for a person go through `Container.say`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from llmtrade.app.checkpoint_run import run_checkpoint
from llmtrade.app.container import Container
from llmtrade.app.due_said import say_postmortem_late, say_weekly_late
from llmtrade.app.guards import (
    closed_at,
    latest_postmortem_due,
    previous_week_needs_postmortem,
    require_checkpoint_due,
    require_open_week,
    require_postmortem_due,
    require_week_run,
)
from llmtrade.app.known_weeks import require_known_week
from llmtrade.app.orphaned_positions import orphaned_holdings, without_row_line
from llmtrade.app.outcomes import weekly_result
from llmtrade.app.results import (
    CheckpointResult,
    PostmortemResult,
    Usage,
    WeekAlreadyComplete,
    WeeklyOutcome,
)
from llmtrade.app.runs import execute, start_run
from llmtrade.app.session import Session
from llmtrade.app.week_mode import in_week_mode
from llmtrade.brokers.fills import replaced_notes
from llmtrade.brokers.order_ends import ended_notes, unlisted_notes
from llmtrade.brokers.overfills import overfilled_notes
from llmtrade.domain import streams
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.runs import RunStarted, WeekCompleted
from llmtrade.domain.streams import week_stream
from llmtrade.domain.weeks import week_id_for
from llmtrade.llm.gateway import LLMMode
from llmtrade.pipeline.context import PipelineContext
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.projections import project_week_summaries
from llmtrade.workflows import research_stages
from llmtrade.workflows.checkpoint_slot import Slot
from llmtrade.workflows.execution import ABANDONED, UNFINISHED, abandonment_note
from llmtrade.workflows.job_deadlines import retry_deadline
from llmtrade.workflows.legs import held_back_notes, unfinished_orders
from llmtrade.workflows.postmortem import PostmortemRun, failed_reflections
from llmtrade.workflows.schedule import JobKind, postmortem_job
from llmtrade.workflows.trading_stages import HELD, HELD_AGAIN, PLANNED_LATE, QUEUED, UNSOLD
from llmtrade.workflows.week_holds import held_this_week, held_week_due, never_planned_note
from llmtrade.workflows.weekly import (
    completion,
    require_begun,
    require_current_week,
    require_same_mode,
    require_sessions_left,
    week_mode,
    weekly_pipeline,
)
from llmtrade.workflows.weeks import resolve_week

Observer = Callable[[Callable[[], int]], Callable[[str, str, float | None], None]]


def weekly(app: Container, *, week: date | None, dry_run: bool, observer: Observer | None = None) -> WeeklyOutcome:
    """The week's committee, or WeekAlreadyComplete for a finished week."""
    now = app.clock.now()
    week_id, _ = resolve_week(now, week, app.loaded.config.schedule)
    if not dry_run:
        require_current_week(week_id, now, command="run-weekly")
    # A dry run of a later week would decide it from today's prices under that week's name.
    require_begun(week_id, now, what="its dry run would be decided from today's prices, the week's own being to come")
    if week is not None:
        require_known_week(week, app.calendar)
    app = in_week_mode(app, week_id)
    with app.storage(persist=not dry_run, models=True) as storage:
        require_same_mode(storage.events, week_id, app.mode, app.decision.reason)
        # A complete week with orders refused or held back is run again: its frozen stages replay, execution retries;
        # so is one with an account held back for its orders still open at the broker (the risk gate looks again), or
        # planned by a run killed before it sent the plan (execution asks the broker, then sends what is unsent).
        retry = bool(unfinished_orders(storage.events, week_stream(week_id, streams.ORDERS))) or held_week_due(
            storage.events, week_id
        )
        done = completion(storage.events, week_id)
        if done is not None and not retry:
            return _complete(app, week_id, done)
        if not dry_run:
            require_sessions_left(app.loaded.config.schedule, app.calendar, storage.events, week_id, now, again=retry)
        with app.week_lock(storage.conn, week_id):
            done = completion(storage.events, week_id)  # the run we waited behind may have finished it
            if done is not None and not retry:
                return _complete(app, week_id, done)
            previous = previous_week_needs_postmortem(storage, week_id)
            if previous is not None and (week_mode(storage.events, previous) == LLMMode.OFFLINE.value) != (
                app.mode is LLMMode.OFFLINE
            ):
                if app.mode is LLMMode.OFFLINE:  # a live week is never closed offline
                    app.warning(f"week {previous} ran live: its postmortem is left to a live `llmtrade postmortem`")
                elif not dry_run:  # an offline week is closed offline, as it ran (app/week_mode.py)
                    app.say(f"postmortem of week {previous} first")
                    say_postmortem_late(app, postmortem(app, week=previous))
                previous = None
            if previous is not None and not dry_run:
                # DESIGN's first stage: last week's postmortem closes it before this week opens. Late, it says so as
                # a postmortem run by hand does (run-due runs it as a job of its own first, which says its own).
                app.say(f"postmortem of week {previous} first")
                say_postmortem_late(app, _postmortem(app, storage, previous, now))
            # The run begins here, after the postmortem it ran first (minutes, on the machine's clock): its run id, its
            # records and its reads come after the postmortem's (a chosen clock reads the same instant again).
            now = app.clock.now()
            asof = _weekly_asof(app, storage, week_id, resolve_week(now, week, app.loaded.config.schedule)[1])
            # A week begun offline for want of a key runs offline to its end (app/week_mode.py): said under --quiet
            # too, once a week, as cron's environment often lacks the shell's keys (or api_key_env is misspelt).
            # Once a week indeed: a weekly run that did not complete (the kill switch on, a provider down) is run again
            # at every wake-up, each of which warned it anew (a trial: one cron mail per 5-minute wake-up).
            unset = bool(app.decision.unset_keys) and not _banner_said(storage, week_id, app.decision.reason)
            app.announce(needs_a_look=unset)
            session = app.session(storage)
            deadline = retry_deadline(app.loaded.config.schedule, app.calendar, JobKind.WEEKLY, week_id)
            bench = app.workbench(storage, session, week_id=week_id, now=now, deadline=deadline)
            run_id = bench.run_id
            pipeline = weekly_pipeline(
                bench,
                app.clock,
                dry_run=dry_run,
                # The requests sent to providers, retries and refusals included: an offline stage said "(12 model
                # calls)" above a footer of "model calls: 0" (the new-user trial), and counting answers said "(3 model
                # calls)" of a stage that had sent 5 requests (trial L).
                observer=observer(lambda: session.gateway.totals.requests) if observer else None,
            )
            arguments = {
                "week": str(week) if week else None,
                "dry_run": dry_run,
                "offline": app.offline,
                "replay": app.replay,
            }
            run = start_run(session, run_id=run_id, command="run-weekly", arguments=arguments, week_id=week_id)
            with run.ends_recorded():
                context = PipelineContext(run_id=run_id, week_id=week_id).with_value(research_stages.ASOF, asof)
                result = execute(pipeline.run(context), session, run)
                abandoned = [abandonment_note(a) for a in result.get(ABANDONED)]
                for note in abandoned:
                    app.warning(note)
                # Orders the broker accepted and then ended unfilled (rejected at the open, expired), recorded by this
                # run.
                ended = [] if dry_run else ended_notes(storage.events, run_id)
                for note in result.get(UNFINISHED) + ended:
                    app.warning(note)
                # Orders replaced outside llmtrade that filled in its place: said, not degraded (the trade happened).
                for note in [] if dry_run else replaced_notes(storage.events, run_id):
                    app.warning(note)
                # Orders the broker takes as working but shows nowhere working (an unseen replacement): said once.
                for note in [] if dry_run else unlisted_notes(storage.events, run_id):
                    app.warning(note)
                # Orders that filled more than llmtrade sent them for (a part filled order replaced whole): said once.
                for note in [] if dry_run else overfilled_notes(storage.events, run_id):
                    app.warning(note)
                for note in result.get(QUEUED):  # a dry run's only
                    app.warning(note)
                unsold = result.get(UNSOLD)  # held positions whose prices ended: no close sent
                for note in unsold:
                    app.warning(note)
                # Accounts held back for their orders still open at the broker (a cancel stuck at Alpaca): the others
                # traded; each is said at every run of the week until one plans it.
                held = result.get(HELD)
                for note in held:
                    app.warning(note)
                for note in result.get(HELD_AGAIN):  # warned by the run that held it: said, not mailed at every wake-up
                    app.say(f"still: {note}")
                for note in result.get(PLANNED_LATE):  # a held account sized at the week's older closes: said
                    app.warning(note)
                # Setups another embedding model made, searched by their numbers alone: said, not degraded.
                if (note := app.unsearched_setups(storage)) is not None:
                    app.warning(note)
                # Refused orders degrade the run; a leg held back for its close is the design working
                # (workflows/legs.py).
                degraded = (
                    result.get(research_stages.DEGRADED) + abandoned + result.get(UNFINISHED) + ended + unsold + held
                )
                held_back = [] if dry_run else held_back_notes(storage.events, week_stream(week_id, streams.ORDERS))
                for note in held_back:
                    app.say(note)
                result = result.with_value(research_stages.DEGRADED, degraded)
                completed: list[NewEvent] = []
                done_stream = week_stream(week_id, streams.DONE)
                if not dry_run and done is None:
                    marker = WeekCompleted(run_id=run_id, degraded=bool(degraded), notes=degraded + held_back)
                    completed = [NewEvent.of(marker, stream=done_stream, week_id=week_id, run_id=run_id)]
                # The week's completion and the run's end in one append: a stop between them recorded the run failed
                # for good, its week done (runs.py `finished`).
                duration = run.finished(
                    session.gateway.totals,
                    degraded=bool(degraded),
                    with_events=completed,
                    expected_versions={done_stream: 0} if completed else None,
                )
    return weekly_result(
        result,
        run_id=run_id,
        mode=app.mode.value,
        dry_run=dry_run,
        totals=session.gateway.totals,
        duration_ms=duration,
        resumed=list(result.loaded),
    ).model_copy(update={"held_back": held_back})


def _weekly_asof(app: Container, storage: Storage, week_id: date, asof: datetime) -> datetime:
    """The instant the week is read as of: `asof` (its scheduled run time, or now if earlier), but never before last
    week's postmortem completed, on the machine's clock. Run late (a machine off on Tuesday evening), the postmortem
    and the weekly run go in one wake-up: read as of 08:00, the week could not recall the lessons that postmortem
    made minutes before (recall shows what was known strictly before the as-of). A chosen clock (LLMTRADE_NOW, a
    backtest's step) keeps `asof`: its postmortem, run at its own scheduled time, is before it. Only within the session
    `asof` reads (a postmortem late by minutes, hours): one that completed days late, after later sessions closed, keeps
    the week's scheduled as-of, as README promises of a late week (it decides from the prices an on-time run would have,
    and its late line says so): read as of the postmortem, it was sized at closes an on-time run never had."""
    if not app.clock.real:
        return asof
    closed = closed_at(storage, week_id - timedelta(days=7))
    if closed is None or closed <= asof:
        return asof
    same = app.calendar.last_completed_session(closed) == app.calendar.last_completed_session(asof)
    return closed if same else asof


def run_weekly(app: Container, *, week: date | None, dry_run: bool, observer: Observer | None = None) -> WeeklyOutcome:
    """`run-weekly` as a command: the week's run (`weekly`), and a line when it ran late, as run-due says of the weekly
    runs it makes (app/due_said.py `say_weekly_late`). run-due calls `weekly` and says its own."""
    outcome = weekly(app, week=week, dry_run=dry_run, observer=observer)
    late = say_weekly_late(app, outcome)
    return outcome if late is None else outcome.model_copy(update={"late": late})


def _complete(app: Container, week_id: date, done: StoredEvent) -> WeekAlreadyComplete:
    # The week's mode, as every command says it (README); said, not warned: the run that began the week offline for
    # want of a key warned under --quiet, once a week.
    app.announce()
    return WeekAlreadyComplete(week_id=week_id, completed_by=done.payload, at=done.occurred_at.isoformat())


def checkpoint(app: Container, time: str, *, week: date | None, dry_run: bool) -> CheckpointResult:
    """One checkpoint for every account of the week (see workflows/checkpoint.py).

    A dry run runs against a draft view of the store: the owners are asked and the orders planned
    exactly as for real, but no event (run, model call, price fetch, fill) reaches the database."""
    config = app.loaded.config
    now = app.clock.now()
    day = require_checkpoint_due(config, app.calendar, time, now, dry_run=dry_run)
    week_id, _ = resolve_week(now, week, config.schedule)
    if not dry_run:
        require_current_week(week_id, now, command="checkpoint")
    app = in_week_mode(app, week_id)
    with app.storage(persist=not dry_run, models=True) as storage:
        require_same_mode(storage.events, week_id, app.mode, app.decision.reason)
        # Under the lock: a weekly run still going holds it (exit 75, naming it), where "has not completed: run
        # run-weekly first" (exit 1) sent an operator's trial to start a second one.
        with app.week_lock(storage.conn, week_id, command="checkpoint"):
            require_week_run(storage, week_id, dry_run=dry_run)
            require_open_week(storage, week_id, now)
            return run_checkpoint(
                app,
                storage,
                week_id=week_id,
                slot=Slot(day, time),
                now=now,
                dry_run=dry_run,
                arguments={"time": time, "week": str(week) if week else None, "dry_run": dry_run},
            )


def postmortem(app: Container, *, week: date | None, dry_run: bool = False) -> PostmortemResult:
    """The postmortem of `week` (default: the latest week whose postmortem is due: the current one once its scheduled
    postmortem time has come, Tuesday 16:30 by default, else the week before). A dry run (the look-ahead audit's) runs
    against a draft view of the store: its events and the memories it would write stay in the draft (memory/store.py),
    the week's summaries are not projected and it says nothing (the real run says it)."""
    now = app.clock.now()
    week_id = week_id_for(week) if week else latest_postmortem_due(app.loaded.config, app.calendar, now)
    app = in_week_mode(app, week_id)
    with app.storage(persist=not dry_run, models=True) as storage:
        require_postmortem_due(storage, app.loaded.config, app.calendar, week_id, now, chosen=week is not None)
        require_same_mode(storage.events, week_id, app.mode, app.decision.reason)
        with app.week_lock(storage.conn, week_id, command="postmortem"):
            return _postmortem(app, storage, week_id, now, dry_run=dry_run)


def run_postmortem(app: Container, *, week: date | None) -> PostmortemResult:
    """`postmortem` as a command: the week's postmortem (`postmortem`), and a line when it closed the week late, as
    `run_weekly` says of a weekly run (app/due_said.py `say_postmortem_late`). run-due calls `postmortem` and says its
    own."""
    result = postmortem(app, week=week)
    late = say_postmortem_late(app, result)
    return result if late is None else result.model_copy(update={"late": late})


def _postmortem(
    app: Container, storage: Storage, week_id: date, now: datetime, *, dry_run: bool = False
) -> PostmortemResult:
    warning = (lambda _text: None) if dry_run else app.warning
    session: Session = app.session(storage)
    deadline = retry_deadline(app.loaded.config.schedule, app.calendar, JobKind.POSTMORTEM, week_id)
    bench = app.workbench(storage, session, week_id=week_id, now=now, deadline=deadline)
    run = start_run(
        session, run_id=bench.run_id, command="postmortem", arguments={"week": str(week_id)}, week_id=week_id
    )
    with run.ends_recorded():
        scheduled = postmortem_job(app.loaded.config.schedule, app.calendar, week_id)
        written, built, unpriced, unread, completion = execute(
            PostmortemRun(bench, ends=scheduled.at if scheduled else None).run(), session, run
        )
        if not dry_run:  # the table is written on the connection, past the draft
            project_week_summaries(storage.conn, storage.events)
        # A reflection that failed for good (or was still unavailable at the deadline) is stored as missing: the week's
        # lessons lack it for ever, so the run that wrote it is degraded and says so, under --quiet too (a trial's
        # override failed every reflection; the run exited 0, RunFinished said not degraded, nothing was printed).
        failed = failed_reflections(storage.events, week_id) if built else []
        for note in failed:
            warning(f"postmortem {week_id}: {note}")
        ended = ended_notes(storage.events, bench.run_id)  # orders found ended as the week's fills were recorded
        # An end equity with a held symbol at cost is no result of the week: written so for good, it is said, not kept
        # silent (an account holding a symbol whose CSV file stopped got a week P/L of 0.00, remembered as its outcome).
        at_cost = [f"{account}'s end equity {why}" for account, why in unpriced.items()]
        # A universe symbol nobody holds without a close (`unread`) degrades nothing; the next weekly run may stop.
        for note in [*ended, *(f"postmortem {week_id}: {note}" for note in [*at_cost, *unread])]:
            warning(note)
        for note in replaced_notes(storage.events, bench.run_id):  # filled through a replacement: said, not degraded
            warning(note)
        for note in overfilled_notes(storage.events, bench.run_id):  # filled beyond what was sent: said, not degraded
            warning(note)
        # The week's postmortem marker and the run's end in one append (workflows/completion.py).
        duration = run.finished(
            session.gateway.totals,
            degraded=bool(failed or ended or at_cost),
            with_events=completion.events,
            expected_versions=completion.expected_versions or None,
        )
    # A leg still held back now was never sent (its close never filled): said here, as the week closes.
    never_sent = held_back_notes(storage.events, week_stream(week_id, streams.ORDERS))
    for note in never_sent:
        warning(f"never sent: {note}")
    # An account out of accounts.yaml for the week (taken out mid-week, or put back after its weekly run) has no row,
    # though its books held a position through it: said, as status says it, not left for the reader to miss (a trial).
    ends = min(now, scheduled.at) if scheduled else now
    configured = {pm.account_id for pm in written}
    held = orphaned_holdings(storage.events, configured, until=ends) if app.config_changes else {}
    # An account whose week the weekly run held back and no run planned (a cancel stuck at Alpaca all week, a broker not
    # answering whether the chairman's account may short) has no row either, whatever valuation its week has (the
    # postmortem's gather leaves it out). Said, where it was left out without a word.
    never = [never_planned_note(h) for a, h in held_this_week(storage.events, week_id).items() if a not in configured]
    for note in never:
        warning(f"postmortem {week_id}: {note}")
    return PostmortemResult(
        run_id=bench.run_id,
        week_id=week_id,
        written_now=built,
        accounts=written,
        usage=Usage.of(session.gateway.totals),
        duration_ms=round(duration, 1),
        never_sent=never_sent,
        failed_reflections=failed,
        degraded=[f"reflection missing: {note}" for note in failed] + ended + at_cost,
        models_kept=[pm.model_kept for pm in written if pm.model_kept],
        without_rows=[*never, *(without_row_line(account, holding) for account, holding in held.items())],
    )


def _banner_said(storage: Storage, week_id: date, reason: str) -> bool:
    """Whether an earlier weekly run of `week_id` started in the mode the banner gives for `reason` (its RunStarted's
    mode_reason): that wake-up warned it already."""
    return any(
        e.payload.get("command") == "run-weekly" and e.payload.get("mode_reason") == reason
        for e in storage.events.read(week_id=week_id, type=RunStarted.event_type())
    )
