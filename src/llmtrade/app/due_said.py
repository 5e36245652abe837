"""What a run-due wake-up says, even under --quiet, of the scheduled jobs it ran: the end of a wait whose start it said,
and a job run long after its time with no wait said (app/due_run.py `run_due`); and the same lateness of a week's run
made by `run-weekly` itself (`say_weekly_late`), and of a postmortem run by hand or by `run-weekly` first
(`say_postmortem_late`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from llmtrade.app.container import Container
from llmtrade.app.due_waits import run_waited
from llmtrade.app.results import (
    CheckpointResult,
    DueJobRun,
    LateRun,
    PostmortemResult,
    WeeklyOutcome,
    WeeklyResult,
)
from llmtrade.domain.checkpoints import PostmortemCompleted
from llmtrade.domain.wording import counted
from llmtrade.market.calendar import NEW_YORK
from llmtrade.workflows.checkpoint_close import waited
from llmtrade.workflows.postmortem import postmortem_completion
from llmtrade.workflows.schedule import JobKind, postmortem_job, week_jobs
from llmtrade.workflows.weekly import completion

# The command a scheduled job's run records (RunStarted.command), for its waits.
COMMANDS = {JobKind.WEEKLY: "run-weekly", JobKind.POSTMORTEM: "postmortem"}


def say_waits_over(app: Container, results: list[DueJobRun], scheduled: dict[str, datetime]) -> list[DueJobRun]:
    """A job finished now after waiting (its start was said, exit 75): its end is said too, even under --quiet, so
    cron's mails tell a wait's start and its end, nothing between (app/due_waits.py). A weekly run or postmortem that
    never waited but ran more than `_LATE` after its time is said too: no wake-up ran it before (the machine off, cron
    stopped), which an operator's trial found told nowhere (a weekly run five days late, silent under -q); a weekly
    run with what it decided from, as `say_weekly_late` says it. `results` with each late run's `late` set."""
    done = [r for r in results if isinstance(r.report, CheckpointResult | WeeklyResult | PostmortemResult)]
    if not done:
        return results
    lateness: dict[int, LateRun] = {}
    with app.storage(persist=False) as storage:
        for run in done:
            report = run.report
            if isinstance(report, CheckpointResult):
                how = waited(storage.events, report.week_id, report.day, report.time)
            else:
                command = COMMANDS[JobKind(run.kind)]
                how = run_waited(storage.events, report.week_id, command, report.run_id)  # type: ignore[union-attr]
            if how is not None:
                app.warning(f"{run.job} finished: it {how}")
            elif run.job in scheduled and not isinstance(report, CheckpointResult):
                late = _late_run(scheduled[run.job], app.clock.now())
                if late is not None:
                    lateness[id(run)] = late
                    line = f"{_said(run.job, late)}: no wake-up ran it before (the machine off, or cron stopped?)"
                    if isinstance(report, WeeklyResult):
                        line += f"; {_decided_from(app, report)}"
                    app.warning(line)
    return [r.model_copy(update={"late": lateness[id(r)]}) if id(r) in lateness else r for r in results]


def say_weekly_late(app: Container, outcome: WeeklyOutcome) -> LateRun | None:
    """`run-weekly` run as a command (by hand, or by a cron line of its own) whose run finished its week more than
    `_LATE` after the week's scheduled run: said in one line, under --quiet too, as run-due says of a weekly run it
    makes late (an operator ran one two days late by hand and was told nothing), and returned for its --json. Not its
    reason (no wake-up ran it): what the lateness means for a week whose as-of is fixed (workflows/weeks.py
    `resolve_week`: its scheduled instant, or now if earlier) -- it decided from the prices an on-time run would have,
    and the sessions closed since are not in its inputs. Nothing for a dry run, a week already complete, or a rerun of
    one (its orders retried)."""
    if not isinstance(outcome, WeeklyResult) or outcome.dry_run:
        return None
    calendar, now = app.calendar, app.clock.now()
    job = next(
        (j for j in week_jobs(app.loaded.config.schedule, calendar, outcome.week_id) if j.kind is JobKind.WEEKLY), None
    )
    late = None if job is None else _late_run(job.at, now)
    if job is None or late is None:
        return None
    with app.storage(persist=False) as storage:
        done = completion(storage.events, outcome.week_id)
    if done is None or done.run_id != outcome.run_id:
        return None
    app.warning(f"{_said(job.key, late)}: {_decided_from(app, outcome)}")
    return late


def say_postmortem_late(app: Container, result: PostmortemResult) -> LateRun | None:
    """A postmortem run as a command, or by `run-weekly` first for the week before, whose run closed its week more than
    `_LATE` after the week's scheduled postmortem: said in one line, under --quiet too, as `say_weekly_late` says of a
    weekly run (both said nothing). What the lateness means for it: a late postmortem reads its week's prices to its
    slot's time, not today's (workflows/postmortem_stages.py GatherStage), so the sessions closed since are not in it.
    Nothing for a week its postmortem had closed before this run (run again, it only reads it back). run-due says its
    own (`say_waits_over`)."""
    job = postmortem_job(app.loaded.config.schedule, app.calendar, result.week_id)
    late = None if job is None else _late_run(job.at, app.clock.now())
    if job is None or late is None:
        return None
    with app.storage(persist=False) as storage:
        done = postmortem_completion(storage.events, result.week_id)
    if done is None or PostmortemCompleted.from_event(done).run_id != result.run_id:
        return None
    session = app.calendar.last_completed_session(job.at)  # the newest close GatherStage read, at the slot's time
    said = f"it closed the week at the closes of {session}, as it would have on time"
    app.warning(f"{_said(job.key, late)}: {said}{_not_in(app, session, 'it')}")
    return late


def _not_in(app: Container, session: date | None, what: str) -> str:
    """': the N sessions closed since are not in `what`', the sessions closed by now after `session`; '' for none."""
    last = app.calendar.last_completed_session(app.clock.now())
    if session is None or last is None:
        return ""
    since = len(app.calendar.sessions_between(session + timedelta(days=1), last))
    return (
        f": the {counted(since, 'session')} closed since {'is' if since == 1 else 'are'} not in {what}" if since else ""
    )


def _decided_from(app: Container, outcome: WeeklyResult) -> str:
    """What a late weekly run decided from: the prices an on-time run would have (its as-of is the week's scheduled
    instant), and how many sessions closed since are not in its inputs."""
    session = outcome.market.session  # the last session closed at the as-of: the newest close in its inputs
    said = f"it decided from prices to the close of {session}, as it would have on time"
    return said + _not_in(app, session, "its inputs")


def _late_run(due: datetime, now: datetime) -> LateRun | None:
    """How late a job due at `due` and run at `now` is, when more than `_LATE`; None when it is not."""
    late = now - due
    return LateRun(seconds=late.total_seconds(), due=due.astimezone(NEW_YORK)) if late > _LATE else None


def _said(job: str, late: LateRun) -> str:
    """A late line's start, e.g. "weekly:2026-01-14 ran 2 days 2 hours late (due Wed 2026-01-14 08:00 New York)"."""
    due_at = late.due.astimezone(NEW_YORK).strftime("%a %Y-%m-%d %H:%M")
    return f"{job} ran {_span(timedelta(seconds=late.seconds))} late (due {due_at} New York)"


# A day, not an hour: a quick start's week run by hand on a Tuesday evening leaves its postmortem (due at that
# afternoon's close) to the next morning's first wake-up of the cron set up then, 15 hours on, which is no outage.
_LATE = timedelta(days=1)


def _span(late: timedelta) -> str:
    """`late` as a person reads it: hours under a day ("15.5 hours"), else days and whole hours ("1 day 18 hours",
    "5 days"): "42.5 hours" was said of a run almost two days late (a new user's trial), a day's count left to work
    out; the exact figure is the result's `late.seconds`."""
    hours = late.total_seconds() / 3600
    if hours < 24:
        return f"{hours:.1f} hours"
    days, rest = divmod(int(hours + 0.5), 24)  # to the nearest hour, a half up
    return counted(days, "day") + (f" {counted(rest, 'hour')}" if rest else "")
