"""Weeks that were never run: said once, under --quiet too, recorded (WeekNotRun), and skipped, never run late.

A weekly run stays due until its week's last session closes (workflows/schedule.py `due_jobs`); a week whose runs no
wake-up began by then is lost whole: its weekly run, its checkpoints (each needs the week's positions) and its
postmortem (it reviews a week that was run). A cron operator's trial found such a week said nowhere: the machine off
from a Tuesday to the Wednesday after next, the wake-up back said only the last postmortem ran late, `events --week`
showed nothing for the week between, `status` said nothing and the report's list of weeks jumped over it. Running it
now would freeze its research, pitches and prices from today's market, so it is skipped and said.

The books begin with their first run week (before it nothing was meant to run), and each week after it is either
run (WeekCompleted) or said (WeekNotRun): the gaps are found from those two sets of week ids, one small query each,
with no event of the weeks read.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta

from llmtrade.app.container import Container
from llmtrade.config.models import ScheduleConfig
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import RunStarted, WeekCompleted, WeekNotRun
from llmtrade.domain.streams import WEEK_NOT_RUN, week_stream
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import ConcurrencyError
from llmtrade.market.calendar import NEW_YORK, TradingCalendar, new_york_date
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.schedule import Job, JobKind, week_jobs

_WEEK = timedelta(days=7)


def weeks_not_run(
    schedule: ScheduleConfig, calendar: TradingCalendar, ran: Collection[date], now: datetime
) -> list[list[Job]]:
    """The jobs of each week after the books' first run week (the first of `ran`, the weeks whose weekly run
    completed) whose weekly run is no longer due at `now` (its last session closed) and never completed, oldest first.
    A week without a session has no jobs and is not listed."""
    if not ran:
        return []
    week, current = min(ran) + _WEEK, week_id_for(new_york_date(now))
    lost: list[list[Job]] = []
    while week <= current:
        if week not in ran:
            jobs = week_jobs(schedule, calendar, week)
            # As `due_jobs` gives a weekly run up: once the week's last session has closed.
            sessions = calendar.sessions_between(week, week + timedelta(days=6))
            if any(job.kind is JobKind.WEEKLY for job in jobs) and now >= calendar.session_close(sessions[-1]):
                lost.append(jobs)
        week += _WEEK
    return lost


def unrun_weeks(schedule: ScheduleConfig, calendar: TradingCalendar, events: EventStore, now: datetime) -> list[date]:
    """The weeks of the books never run by `now`, said by a wake-up or not yet (cron broken says nothing): `status`'s
    list."""
    ran = set(events.week_ids(WeekCompleted.event_type()))
    return [jobs[0].week_id for jobs in weeks_not_run(schedule, calendar, ran, now)]


def weeks_not_run_said(
    app: Container, events: EventStore, now: datetime, ran: Collection[date], said: Collection[date]
) -> list[str]:
    """Record the weeks never run (`ran`: the weeks run) that no wake-up said before (`said`), and what to say of them:
    a wake-up's, in the storage app/missed_checkpoints.py opened (opening it costs more than both looks)."""
    lost = weeks_not_run(app.loaded.config.schedule, app.calendar, ran, now)
    recorded = [(jobs, why) for jobs in lost if jobs[0].week_id not in said and (why := _record(events, jobs))]
    if len(recorded) > _LISTED:  # months off: how many and from when, not a line a week
        (first, _), (last, _) = recorded[0], recorded[-1]
        return [
            f"{len(recorded)} weeks never run, week {first[0].week_id} to week {last[0].week_id} (each recorded as "
            f"WeekNotRun): {_GIVEN_UP}"
        ]
    return [f"week {jobs[0].week_id} never run ({_jobs(jobs)}): {why}" for jobs, why in recorded]


def _record(events: EventStore, jobs: list[Job]) -> str | None:
    """Record the week as not run, and why; None when a wake-up running beside this one recorded it first (it says
    it)."""
    week_id = jobs[0].week_id
    payload = WeekNotRun(jobs=[job.key for job in jobs], reason=_reason(events, week_id))
    stream = week_stream(week_id, WEEK_NOT_RUN)
    try:
        events.append([NewEvent.of(payload, stream=stream, week_id=week_id)], expected_versions={stream: 0})
    except ConcurrencyError:
        return None
    return payload.reason


_GIVEN_UP = (
    "skipped, not run late: its research and prices would be today's, and its checkpoints and postmortem need its run"
)


def _reason(events: EventStore, week_id: date) -> str:
    begun = [e for e in events.read(week_id=week_id, type=RunStarted.event_type()) if _weekly(e.payload)]
    why = (
        f"its weekly run began {len(begun)} time(s) and never completed"
        if begun
        else "no wake-up ran its weekly run (the machine off, or cron stopped or broken?)"
    )
    return f"{why} before its last session closed; {_GIVEN_UP}"


def _weekly(payload: dict[str, object]) -> bool:
    return payload.get("command") == "run-weekly"


_LISTED = 3  # weeks said one by one; more are counted, first to last


def _jobs(jobs: list[Job]) -> str:
    weekly = next(job for job in jobs if job.kind is JobKind.WEEKLY)
    checkpoints = sum(job.kind is JobKind.CHECKPOINT for job in jobs)
    postmortem = any(job.kind is JobKind.POSTMORTEM for job in jobs)
    due = weekly.at.astimezone(NEW_YORK).strftime("%a %Y-%m-%d %H:%M")
    return f"its weekly run due {due} New York, {checkpoints} checkpoint(s)" + (
        " and its postmortem" if postmortem else ""
    )
