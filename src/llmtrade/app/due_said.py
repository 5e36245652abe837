"""What a run-due wake-up says, even under --quiet, of the scheduled jobs it ran: the end of a wait whose start it said,
and a job run long after its time with no wait said (app/jobs.py `run_due`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from llmtrade.app.container import Container
from llmtrade.app.due_waits import run_waited
from llmtrade.app.results import CheckpointResult, DueJobRun, PostmortemResult, WeeklyResult
from llmtrade.market.calendar import NEW_YORK
from llmtrade.workflows.checkpoint_close import waited
from llmtrade.workflows.schedule import JobKind

# The command a scheduled job's run records (RunStarted.command), for its waits.
COMMANDS = {JobKind.WEEKLY: "run-weekly", JobKind.POSTMORTEM: "postmortem"}


def say_waits_over(app: Container, results: list[DueJobRun], scheduled: dict[str, datetime]) -> None:
    """A job finished now after waiting (its start was said, exit 75): its end is said too, even under --quiet, so
    cron's mails tell a wait's start and its end, nothing between (app/due_waits.py). A weekly run or postmortem that
    never waited but ran more than `_LATE` after its time is said too: no wake-up ran it before (the machine off, cron
    stopped), which an operator's trial found told nowhere (a weekly run five days late, silent under -q)."""
    done = [r for r in results if isinstance(r.report, CheckpointResult | WeeklyResult | PostmortemResult)]
    if not done:
        return
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
                late = app.clock.now() - scheduled[run.job]
                if late > _LATE:
                    due_at = scheduled[run.job].astimezone(NEW_YORK).strftime("%a %Y-%m-%d %H:%M")
                    app.warning(
                        f"{run.job} ran {_span(late)} late (due {due_at} New York): no wake-up ran it before "
                        "(the machine off, or cron stopped?)"
                    )


# A day, not an hour: a quick start's week run by hand on a Tuesday evening leaves its postmortem (due at that
# afternoon's close) to the next morning's first wake-up of the cron set up then, 15 hours on, which is no outage.
_LATE = timedelta(days=1)


def _span(late: timedelta) -> str:
    hours = late.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"
