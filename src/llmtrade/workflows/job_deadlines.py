"""Until when a job of the schedule (workflows/schedule.py) retries, and when a checkpoint's time to run ended.

`retry_deadline`: until when a job retries model calls that failed for a temporary reason, by the schedule's
`retry_until` ("next_job": the next job's instant, else the session's close; a number: that many minutes after the
job's time). `passed_checkpoints`: a week's checkpoints whose time ended by an instant, with that end. Pure, as the
schedule is; both keep what they worked out per (schedule, calendar, week) by the objects' identity, since a backtest
asks at each of its ~20 checkpoints a week.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from llmtrade.config.models import ScheduleConfig
from llmtrade.market.calendar import TradingCalendar
from llmtrade.workflows.schedule import (
    WEEKS_KEPT,
    Job,
    JobKind,
    checkpoint_jobs,
    next_weekly_at,
    postmortem_job,
    require_aware,
    require_wednesday,
    scheduled_job,
    week_jobs,
    weekly_run,
)


def passed_checkpoints(
    schedule: ScheduleConfig, calendar: TradingCalendar, week_id: date, now: datetime
) -> list[tuple[Job, datetime]]:
    """The week's checkpoints whose time to run ended by `now`, each with that end: the day's next checkpoint, else
    the session's close (`due_jobs` runs only today's latest checkpoint, and none after the close)."""
    require_aware(now)
    _, ats = _week_of_checkpoints(schedule, calendar, week_id)
    passed = []
    for job in week_jobs(schedule, calendar, week_id):
        if job.kind is JobKind.CHECKPOINT:
            end = min([*(at for at in ats[job.day] if at > job.at), calendar.session_close(job.day)])
            if end <= now:
                passed.append((job, end))
    return passed


def retry_deadline(
    schedule: ScheduleConfig,
    calendar: TradingCalendar,
    kind: JobKind,
    week_id: date,
    day: date | None = None,
    hhmm: str | None = None,
) -> datetime | None:
    """Until when a job of `week_id` retries model calls that failed for a temporary reason (`retry_until`).

    "next_job": the weekly run until its first checkpoint (else its session's close); a checkpoint (`day`,
    `hhmm`) until the next checkpoint of that day (else the close); a postmortem until the next weekly
    run. A number: that many minutes after the job's scheduled time. None when the week has no such job
    (no session): nothing to wait for, so every rerun retries."""
    require_wednesday(week_id)
    # Made once per job and kept (a backtest asks at each of its ~20 checkpoints a week): the schedule is frozen
    # and the calendar's sessions are fixed, so the same objects and job give the same deadline. Both are held in
    # the entry, so no id in a key is reused while it lives.
    key = (id(schedule), id(calendar), kind, week_id, day, hhmm)
    kept = _DEADLINES.get(key)
    if kept is not None and kept[0] is schedule and kept[1] is calendar:
        return kept[2]
    deadline = _retry_deadline(schedule, calendar, kind, week_id, day, hhmm)
    if len(_DEADLINES) >= WEEKS_KEPT:
        _DEADLINES.clear()
    _DEADLINES[key] = (schedule, calendar, deadline)
    return deadline


_DEADLINES: dict[tuple[object, ...], tuple[ScheduleConfig, TradingCalendar, datetime | None]] = {}


def _retry_deadline(
    schedule: ScheduleConfig,
    calendar: TradingCalendar,
    kind: JobKind,
    week_id: date,
    day: date | None,
    hhmm: str | None,
) -> datetime | None:
    weekly, checkpoint_ats = _week_of_checkpoints(schedule, calendar, week_id)
    if kind is JobKind.WEEKLY:
        job = weekly
    elif kind is JobKind.POSTMORTEM:
        job = postmortem_job(schedule, calendar, week_id)
    else:
        if day is None or hhmm is None:
            raise ValueError("a checkpoint's deadline needs its day and time")
        job = scheduled_job(JobKind.CHECKPOINT, week_id, day, hhmm)
    if job is None:
        return None
    if not isinstance(schedule.retry_until, str):
        return job.at + timedelta(minutes=schedule.retry_until)
    if kind is JobKind.POSTMORTEM:
        return next_weekly_at(schedule, calendar, week_id) or job.at + timedelta(days=7)
    close = calendar.session_close(job.day) if calendar.is_session(job.day) else job.at
    later = [at for at in checkpoint_ats.get(job.day, ()) if at > job.at]
    return min([*later, max(close, job.at)])


def _week_of_checkpoints(
    schedule: ScheduleConfig, calendar: TradingCalendar, week_id: date
) -> tuple[Job | None, dict[date, tuple[datetime, ...]]]:
    """The week's weekly run and its checkpoints' instants by day, worked out once per week: each of a week's
    ~20 checkpoints asks for its deadline (kept as `_DEADLINES`, both objects held in the entry)."""
    key = (id(schedule), id(calendar), week_id)
    kept = _WEEKS.get(key)
    if kept is not None and kept[0] is schedule and kept[1] is calendar:
        return kept[2], kept[3]
    weekly = weekly_run(schedule, calendar, week_id)
    ats: dict[date, tuple[datetime, ...]] = {}
    for c in checkpoint_jobs(schedule, calendar, weekly) if weekly else ():
        ats[c.day] = (*ats.get(c.day, ()), c.at)
    if len(_WEEKS) >= WEEKS_KEPT:
        _WEEKS.clear()
    _WEEKS[key] = (schedule, calendar, weekly, ats)
    return weekly, ats


_WEEKS: dict[
    tuple[object, ...], tuple[ScheduleConfig, TradingCalendar, Job | None, dict[date, tuple[datetime, ...]]]
] = {}
