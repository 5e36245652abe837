"""The jobs llmtrade runs and when: the weekly run, the checkpoints and the postmortem of each week.

Pure logic over the schedule config and the NYSE calendar: no clock, no I/O, no database. The caller
passes `now` and the keys of the jobs already done; `run-due` (driven by cron every few minutes)
asks `due_jobs` what to run. Every instant is in New York time, whatever the machine's zone.

Rules (weeks are named by their Wednesday, week_id W, and run W..W+6):
- weekly run: the configured weekday/time of the week; on a holiday it moves to the next session of
  the same week at the same time (no weekly run if the week has no session left).
- checkpoints: each configured time on every session from the weekly run's day through the last
  session of the week; on the weekly run's day only the times after the weekly run; times at or
  after a session's close are skipped (early closes).
- postmortem of W: the configured weekday/time of W's last days (default Tuesday W+6 16:30); on a
  holiday it moves back to the last session on or before that day, no earlier than that session's close,
  and never after the next weekly run. (config/rules.py refuses a day or time before the week's last close.)

Until when each job retries its model calls, and when a checkpoint's time ended: workflows/job_deadlines.py.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from llmtrade.config.models import ScheduleConfig, Weekday
from llmtrade.domain.checkpoints import checkpoint_key
from llmtrade.domain.weeks import week_id_for
from llmtrade.market.calendar import NEW_YORK, TradingCalendar

# ScheduleConfig.timezone only admits America/New_York, the calendar's own zone, so jobs use NEW_YORK directly:
# session days and job times can never disagree about what "Tuesday" means.

_WEEK = timedelta(days=7)
_WEDNESDAY = 2
# Datetimes have microsecond resolution, so `at <= now` is `at < now + one microsecond`.
_TICK = timedelta(microseconds=1)
# How many weeks ahead to look for the next weekly run when a whole week has none (never, on the NYSE).
_WEEKS_WITHOUT_RUN = 4

_OFFSET_FROM_WEDNESDAY = {
    Weekday.WEDNESDAY: 0,
    Weekday.THURSDAY: 1,
    Weekday.FRIDAY: 2,
    Weekday.MONDAY: 5,
    Weekday.TUESDAY: 6,
}
# A postmortem reviews a finished week, so a "wednesday" postmortem of W is the Wednesday that closes W (W+7),
# not W's first day, when nothing has happened yet.
_POSTMORTEM_OFFSET = {**_OFFSET_FROM_WEDNESDAY, Weekday.WEDNESDAY: 7}


class JobKind(StrEnum):
    WEEKLY = "weekly"
    CHECKPOINT = "checkpoint"
    POSTMORTEM = "postmortem"


# When two jobs share an instant, the postmortem of the week before comes first: the next weekly run reads it.
_RANK = {JobKind.POSTMORTEM: 0, JobKind.WEEKLY: 1, JobKind.CHECKPOINT: 2}


@dataclass(frozen=True)
class Job:
    """One scheduled job. `week_id` is the week the job belongs to (for a postmortem: the week it reviews)."""

    kind: JobKind
    week_id: date
    day: date
    time: str  # "HH:MM", New York time
    at: datetime  # timezone-aware, America/New_York

    @property
    def key(self) -> str:
        """Stable identity of the job, what `done` holds: e.g. weekly:2026-01-07, checkpoint:2026-01-08T12:00."""
        if self.kind is JobKind.CHECKPOINT:
            return checkpoint_key(self.day, self.time)
        return f"{self.kind.value}:{self.week_id.isoformat()}"


def weekly_key(week_id: date) -> str:
    """The key of week `week_id`'s weekly run, whichever day it actually fires on."""
    return f"{JobKind.WEEKLY.value}:{week_id.isoformat()}"


def week_jobs(schedule: ScheduleConfig, calendar: TradingCalendar, week_id: date) -> list[Job]:
    """Every job of the week named `week_id` (a Wednesday), in order (a new list: the caller may change it)."""
    require_wednesday(week_id)
    # A backtest asks this 20,000 times (each checkpoint's week and deadline): made once and kept.
    key = (id(schedule), id(calendar), week_id)
    kept = _JOBS.get(key)
    if kept is None or kept[0] is not schedule or kept[1] is not calendar:
        if len(_JOBS) >= WEEKS_KEPT:
            _JOBS.clear()
        kept = _JOBS[key] = (schedule, calendar, tuple(_week_jobs(schedule, calendar, week_id)))
    return list(kept[2])


def _week_jobs(schedule: ScheduleConfig, calendar: TradingCalendar, week_id: date) -> list[Job]:
    weekly = weekly_run(schedule, calendar, week_id)
    jobs: list[Job] = []
    if weekly is not None:
        jobs.append(weekly)
        jobs.extend(checkpoint_jobs(schedule, calendar, weekly))
    postmortem = _postmortem(schedule, calendar, week_id)
    if postmortem is not None:
        jobs.append(postmortem)
    return sorted(jobs, key=_chronological)


def postmortem_job(schedule: ScheduleConfig, calendar: TradingCalendar, week_id: date) -> Job | None:
    """Week `week_id`'s postmortem as scheduled: its instant is where the week ends for what the postmortem reads
    (None when the week has no session)."""
    require_wednesday(week_id)
    return _postmortem(schedule, calendar, week_id)


def jobs_between(schedule: ScheduleConfig, calendar: TradingCalendar, start: datetime, end: datetime) -> list[Job]:
    """Every job whose `at` is in [start, end), in time order."""
    require_aware(start)
    require_aware(end)
    if end <= start:
        return []
    # Jobs of week W fall on days W..W+7 (a postmortem may land on the next Wednesday), so the week before
    # start's week can still contribute, and no week after end's week can.
    week = _week_of(start) - _WEEK
    last = _week_of(end)
    jobs: list[Job] = []
    while week <= last:
        jobs.extend(job for job in week_jobs(schedule, calendar, week) if start <= job.at < end)
        week += _WEEK
    return sorted(jobs, key=_chronological)


def due_jobs(
    schedule: ScheduleConfig,
    calendar: TradingCalendar,
    now: datetime,
    done: Collection[str],
    lookback: timedelta = timedelta(days=8),
    run_weeks: Collection[date] = (),
    again: Collection[str] = (),
) -> list[Job]:
    """What to run at `now` given the keys already done, in the order they were scheduled; `again`: weekly runs done
    that are due all the same (one that held an account back for its orders still open at the broker: each run of
    the week looks at it again), while they are not superseded; their checkpoints are due as a done week's.

    Catch-up after downtime runs only what still makes sense:
    - a weekly run stays due until the close of its week's last session (later it could only trade in the next week);
    - a postmortem stays due as long as it is within `lookback`, and a run week's (`run_weeks`) until it is done: a
      machine off for longer never closed the weeks it missed (found by the months trial);
    - only today's latest checkpoint can be due (a later checkpoint supersedes earlier ones, and yesterday's
      views are stale), only once its week's weekly run is done, and only until the session closes.
    """
    require_aware(now)
    if lookback < timedelta(0):
        raise ValueError(f"lookback must not be negative, got {lookback}")
    window = jobs_between(schedule, calendar, now - lookback, now + _TICK)

    postmortems = [job for job in window if job.kind is JobKind.POSTMORTEM and job.key not in done]
    seen = {job.key for job in postmortems}
    for week in sorted(run_weeks):
        missed = _postmortem(schedule, calendar, week)
        if missed is not None and missed.at <= now and missed.key not in done and missed.key not in seen:
            postmortems.append(missed)
    weeklies = [
        job
        for job in window
        if job.kind is JobKind.WEEKLY
        and (job.key not in done or job.key in again)
        and not _superseded(calendar, job, now)
    ]
    today = now.astimezone(NEW_YORK).date()
    todays = [job for job in window if job.kind is JobKind.CHECKPOINT and job.day == today]
    checkpoints: list[Job] = []
    if todays:
        latest = todays[-1]
        # A checkpoint revises the weekly run's positions; without that run there is nothing to revise yet.
        # After the close its prices are stale and its orders would wait for tomorrow: not due any more.
        in_session = now < calendar.session_close(latest.day)
        # A week closed by its postmortem is judged no more: only a clock set back could find its checkpoint due.
        closed = _postmortem(schedule, calendar, latest.week_id)
        # A later checkpoint done means the clock was set back: judging at older prices after newer decisions are on
        # record (an operator's trial ran 12:00 after 14:00) is no catching up.
        later = latest.key
        newer_done = any(k.startswith("checkpoint:") and len(k) == len(later) and k > later for k in done)
        if (
            latest.key not in done
            and weekly_key(latest.week_id) in done
            and in_session
            and (closed is None or closed.key not in done)
            and not newer_done
        ):
            checkpoints.append(latest)
    # In time order: a machine back after a long pause catches up in the order things were meant to happen.
    return sorted(postmortems + weeklies + checkpoints, key=lambda job: (job.at, _RANK[job.kind]))


# Weeks kept made (`week_jobs`; workflows/job_deadlines.py's too): a backtest's weeks, a sweep's many schedules.
WEEKS_KEPT = 4096
_JOBS: dict[tuple[object, ...], tuple[ScheduleConfig, TradingCalendar, tuple[Job, ...]]] = {}  # `week_jobs`'s


def next_fires(schedule: ScheduleConfig, calendar: TradingCalendar, now: datetime, count: int = 10) -> list[Job]:
    """The next `count` jobs strictly after `now`, in time order."""
    require_aware(now)
    if count <= 0:
        return []
    jobs: list[Job] = []
    week = _week_of(now) - _WEEK
    while True:
        jobs.extend(job for job in week_jobs(schedule, calendar, week) if job.at > now)
        jobs.sort(key=_chronological)
        week += _WEEK
        # Every job of a later week fires on or after that week's Wednesday, so once `count` jobs come before
        # it the answer is settled. The calendar raises MarketDataError past its horizon rather than loop forever.
        if len(jobs) >= count and jobs[count - 1].at < _midnight(week):
            return jobs[:count]


# ---------------------------------------------------------------- the three kinds of job


def weekly_run(schedule: ScheduleConfig, calendar: TradingCalendar, week_id: date) -> Job | None:
    planned = week_id + timedelta(days=_OFFSET_FROM_WEDNESDAY[schedule.weekly_run.day])
    # On a holiday, the next session of the same week: the run must still belong to week_id.
    sessions = calendar.sessions_between(planned, week_id + timedelta(days=6))
    if not sessions:
        return None
    return scheduled_job(JobKind.WEEKLY, week_id, sessions[0], schedule.weekly_run.time)


def checkpoint_jobs(schedule: ScheduleConfig, calendar: TradingCalendar, weekly: Job) -> Iterable[Job]:
    for day in calendar.sessions_between(weekly.day, weekly.week_id + timedelta(days=6)):
        close = calendar.session_close(day)
        for hhmm in schedule.checkpoints:
            job = scheduled_job(JobKind.CHECKPOINT, weekly.week_id, day, hhmm)
            # Before the weekly run there are no positions to check; at or after the close nothing can trade.
            if weekly.at < job.at < close:
                yield job


def _postmortem(schedule: ScheduleConfig, calendar: TradingCalendar, week_id: date) -> Job | None:
    planned = week_id + timedelta(days=_POSTMORTEM_OFFSET[schedule.postmortem.day])
    # On a holiday, back to the last session on or before it, staying within W's own days.
    sessions = calendar.sessions_between(max(week_id, planned - timedelta(days=6)), planned)
    if not sessions:
        return None
    job = scheduled_job(JobKind.POSTMORTEM, week_id, sessions[-1], schedule.postmortem.time)
    if job.day < planned and job.at < (close := calendar.session_close(job.day).astimezone(NEW_YORK)):
        # Moved back, a morning postmortem ("wednesday 08:00", that Wednesday Christmas) closed the week before its
        # last session, whose checkpoints were then refused (a backtest stopped): it waits for that close.
        job = Job(JobKind.POSTMORTEM, week_id, job.day, f"{close:%H:%M}", close)
    if job.at >= _midnight(week_id + _WEEK):
        # Only a postmortem on the next Wednesday can reach the next weekly run; the run reads the postmortem,
        # so a configuration that puts it later is pulled forward to the run's instant (ranked first on ties).
        following = next_weekly_at(schedule, calendar, week_id)
        if following is not None and job.at >= following:
            at = following.astimezone(NEW_YORK)
            job = Job(JobKind.POSTMORTEM, week_id, at.date(), f"{at:%H:%M}", at)
    return job


def _superseded(calendar: TradingCalendar, weekly: Job, now: datetime) -> bool:
    """Whether the week's last session has closed, so its weekly run could no longer trade in it.

    Its orders would wait for the next session's open, in the next week: after the next weekly run, which would then
    find them queued and exit 75 until the open (a cron started on a Tuesday evening ran last week's committee)."""
    last = calendar.sessions_between(weekly.day, weekly.week_id + timedelta(days=6))[-1]
    return now >= calendar.session_close(last)


def next_weekly_at(schedule: ScheduleConfig, calendar: TradingCalendar, week_id: date) -> datetime | None:
    for weeks in range(1, _WEEKS_WITHOUT_RUN + 1):
        run = weekly_run(schedule, calendar, week_id + weeks * _WEEK)
        if run is not None:
            return run.at
    return None


# ---------------------------------------------------------------- helpers


def scheduled_job(kind: JobKind, week_id: date, day: date, hhmm: str) -> Job:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return Job(kind, week_id, day, hhmm, datetime.combine(day, time(hour, minute), NEW_YORK))


def _chronological(job: Job) -> tuple[datetime, int]:
    return job.at, _RANK[job.kind]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), NEW_YORK)


def _week_of(at: datetime) -> date:
    return week_id_for(at.astimezone(NEW_YORK).date())


def require_aware(at: datetime) -> None:
    # A naive datetime would be read in the machine's zone: exactly the mistake this module must not make.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone; pass a timezone-aware datetime")


def require_wednesday(week_id: date) -> None:
    if week_id.weekday() != _WEDNESDAY:
        raise ValueError(f"week_id {week_id} is a {week_id:%A}; a week is named by its Wednesday")
