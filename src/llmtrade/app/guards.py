"""Whether a job may run now: due times, trading sessions, the previous week's postmortem.

The week lock, same-mode and current-week guards live with the weekly workflow
(`workflows/weekly.py`) and are called from the jobs; these are the ones that depend on the clock
and schedule as the application sees them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from datetime import time as dt_time

from llmtrade.config.models import Config
from llmtrade.domain.runs import WeekCompleted
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import OperationalError, SessionOver, UsageError
from llmtrade.market.calendar import NEW_YORK, TradingCalendar, new_york_date
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.checkpoint import require_checkpoint_time
from llmtrade.workflows.postmortem import cut_off_before_memory, postmortem_completion
from llmtrade.workflows.schedule import JobKind, postmortem_job, week_jobs
from llmtrade.workflows.weekly import completion


def require_checkpoint_due(
    config: Config, calendar: TradingCalendar, time: str, now: datetime, *, dry_run: bool
) -> date:
    """The session day of a checkpoint that may run now; a dry run may look after the close."""
    require_checkpoint_time(config, time)
    day = new_york_date(now)
    if not calendar.is_session(day):
        raise UsageError(f"{day} is not a trading session: no checkpoint today")
    hour, minute = (int(part) for part in time.split(":"))
    scheduled = datetime.combine(day, dt_time(hour, minute), NEW_YORK)
    if now < scheduled:
        raise UsageError(f"the {time} checkpoint is not due yet (it is {now.astimezone(NEW_YORK):%H:%M} in New York)")
    if now >= calendar.session_close(day) and not dry_run:
        raise SessionOver(f"the {day} session has closed: its {time} checkpoint can no longer trade")
    return day


def require_week_run(storage: Storage, week_id: date, *, dry_run: bool) -> None:
    if completion(storage.events, week_id) is None and not dry_run:
        # Before the week's own orders are out, a checkpoint would act on last week's positions.
        raise OperationalError(f"week {week_id}'s weekly run has not completed: run `llmtrade run-weekly` first")


def require_open_week(storage: Storage, week_id: date, now: datetime) -> None:
    """UsageError (exit 2) when `week_id` is closed (its postmortem done): a checkpoint of it would change positions a
    later week holds and has planned from. Only a clock set back gets here (LLMTRADE_NOW left from a drill, an NTP step
    back): found by an operator's trial, where a routine run-due at a past instant cut the next week's positions."""
    closed = closed_at(storage, week_id)
    if closed is not None:
        raise UsageError(
            f"week {week_id} is closed (its postmortem ran at {closed.isoformat()}): a checkpoint of it would change "
            f"what a later week holds. The clock reads {now.isoformat()}: is it set back (LLMTRADE_NOW)?"
        )


def closed_at(storage: Storage, week_id: date) -> datetime | None:
    """When `week_id`'s postmortem completed, or None while the week is open."""
    done = postmortem_completion(storage.events, week_id)
    return done.occurred_at if done is not None else None


def require_postmortem_due(
    storage: Storage, config: Config, calendar: TradingCalendar, week_id: date, now: datetime, *, chosen: bool = True
) -> None:
    """`chosen`: the user named `week_id` (--week); else a bare `postmortem` took the latest week due."""
    if completion(storage.events, week_id) is None:
        # A week that was never run is a bad --week (exit 2), named with the weeks that can be reviewed.
        run = [str(week) for week in storage.events.week_ids(WeekCompleted.event_type())]
        listing = "`llmtrade events --type WeekCompleted` lists them" if run else "no week has one yet"
        refused = UsageError.unknown(
            f"week {week_id} has no completed weekly run: nothing to review",
            str(week_id),
            run,
            otherwise=listing,
            listed_as="weeks run",
        )
        if chosen:
            raise refused
        # No week was named: a first week's user (the quick start's, days before its Tuesday) is told why this week
        # and when the one after it, the week they may have run, can be scored.
        raise UsageError(f"{refused}; {_next_postmortem(storage, config, calendar, week_id + timedelta(days=7))}")
    scheduled = next(j for j in week_jobs(config.schedule, calendar, week_id) if j.kind is JobKind.POSTMORTEM)
    if now < scheduled.at:
        raise UsageError(f"week {week_id} is not over: its postmortem is due at {scheduled.at.isoformat()}")


def _next_postmortem(storage: Storage, config: Config, calendar: TradingCalendar, week_id: date) -> str:
    job = postmortem_job(config.schedule, calendar, week_id)
    due = f"is due {job.at.astimezone(NEW_YORK):%a %Y-%m-%d %H:%M} New York" if job else "has no session to run on"
    ran = "" if completion(storage.events, week_id) is not None else " (no weekly run of it has completed yet)"
    return (
        f"without --week, postmortem scores the latest week whose postmortem is due: "
        f"week {week_id}'s {due} (schedule.yaml postmortem){ran}"
    )


def latest_postmortem_due(config: Config, calendar: TradingCalendar, now: datetime) -> date:
    """The week a bare `postmortem` scores at `now`: the current week once its postmortem is due (its scheduled time,
    Tuesday 16:30 by default, has come), else the one before. Run at that Tuesday 16:30, it had scored the week before
    the one just ended (a week already scored, or "no completed weekly run" in a first week's books)."""
    current = week_id_for(new_york_date(now))
    due = postmortem_job(config.schedule, calendar, current)
    return current if due is not None and now >= due.at else current - timedelta(days=7)


def previous_week_needs_postmortem(storage: Storage, week_id: date) -> date | None:
    previous = week_id - timedelta(days=7)
    if completion(storage.events, previous) is None:
        return None
    # Completed: its records alone (a run cut off before the memory) are not, nor an earlier build's marker written
    # before the memory when that run was cut off there (the repair run-due makes, app/due_jobs.py, by hand too).
    if closed_at(storage, previous) is not None and f"postmortem:{previous}" not in cut_off_before_memory(
        storage.events, previous
    ):
        return None
    return previous
