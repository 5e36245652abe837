"""Scheduled checkpoints that no run began in their time: said once, under --quiet too, and recorded.

run-due runs only today's latest checkpoint (a later one supersedes the earlier, and after the close nothing trades),
so a checkpoint whose time passed while no wake-up came is never run. An operator's trial found that said nowhere:
the machine off for a morning lost its 09:00 and 12:00 checkpoints, and a crontab waking every 30 or 60 minutes never
ran the 15:50 one (nothing between 15:50 and the 16:00 close), both silently. Here the first wake-up after such a
checkpoint's time records it (CheckpointsMissed) and says it in one line; `status` counts them. A checkpoint begun and
left unfinished is another matter, closed past its deadline by app/checkpoint_deadlines.py.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from llmtrade.app.container import Container
from llmtrade.app.missed_weeks import weeks_not_run_said
from llmtrade.domain.checkpoints import CheckpointCompleted, CheckpointsMissed
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import WeekCompleted, WeekNotRun
from llmtrade.domain.streams import MISSED_CHECKPOINTS, week_stream
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import ConcurrencyError
from llmtrade.market.calendar import NEW_YORK, new_york_date
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.checkpoint_close import left_by
from llmtrade.workflows.checkpoint_slot import Slot
from llmtrade.workflows.schedule import Job, passed_checkpoints


def say_missed_checkpoints(app: Container) -> None:
    """Record and say the scheduled checkpoints of run weeks whose time is over with no run of them begun, after their
    week's weekly run completed (before it there was nothing to check), not said before; then the weeks never run
    (app/missed_weeks.py).

    Looked for from the week before the newest week run or said not run through this one: every wake-up looks here
    before it runs anything, so the wake-up that recorded that week looked at every checkpoint whose time was over by
    then, those of the weeks before it included. The machine off for days (the trial: from a Tuesday's 12:10 to the
    Wednesday after next) still finds its last run week's afternoon, which a look at this week and last alone missed.
    The weeks' own events are read, a few, not every checkpoint of the books."""
    now = app.clock.now()
    current = week_id_for(new_york_date(now))
    with app.storage() as storage:
        events = storage.events
        ran = events.week_ids(WeekCompleted.event_type())
        if not ran:
            return  # no week run yet: nothing of one to miss, no week of the books to lose
        not_run = events.week_ids(WeekNotRun.event_type())
        looked = max([*ran, *not_run])
        week = max(ran[0], min(looked, current) - _WEEK)
        said: list[str] = []
        while week <= current:
            said += [line for line in [_missed_in(app, events, week, now)] if line]
            week += _WEEK
        said += weeks_not_run_said(app, events, now, set(ran), set(not_run))
    for line in said:
        app.warning(line)


def _missed_in(app: Container, events: EventStore, week_id: date, now: datetime) -> str | None:
    """Record the week's checkpoints missed and not said before; what to say of them, None for none."""
    recorded = events.read(week_id=week_id, type=[WeekCompleted.event_type(), CheckpointCompleted.event_type()])
    completed = [e for e in recorded if e.type == WeekCompleted.event_type()]
    if not completed:
        return None  # not run (app/missed_weeks.py says it), or not yet
    ran = completed[0].occurred_at
    done = {CheckpointCompleted.from_event(e).key for e in recorded if e.type == CheckpointCompleted.event_type()}
    said = {
        key
        for e in events.read_stream(week_stream(week_id, MISSED_CHECKPOINTS))
        for key in CheckpointsMissed.from_event(e).checkpoints
    }
    missed = [
        (job, until)
        for job, until in passed_checkpoints(app.loaded.config.schedule, app.calendar, week_id, now)
        if job.at > ran and job.key not in done and job.key not in said and _never_begun(events, job)
    ]
    return _record(events, week_id, missed) if missed else None


_WEEK = timedelta(days=7)


def _never_begun(events: EventStore, job: Job) -> bool:
    return left_by(events, Slot(job.day, job.time), job.week_id, []) is None


def _record(events: EventStore, week_id: date, missed: list[tuple[Job, datetime]]) -> str | None:
    """Record `missed` and what to say of it; None when a wake-up running beside this one recorded the week's first."""
    spans = [f"{_day(job.at)} {job.time}-{until.astimezone(NEW_YORK).strftime('%H:%M')}" for job, until in missed]
    if len(spans) > _LISTED:  # days of downtime: how many and when, not a line of twenty
        (first, _), (_, end) = missed[0], missed[-1]
        spans = [f"{len(missed)}, from {_day(first.at)} {first.time} to {_day(end)} {end.astimezone(NEW_YORK):%H:%M}"]
    reason = (
        "no run began in its time (the machine off, cron stopped or waking too seldom, or a job before it waiting); "
        "run-due runs only the day's latest checkpoint"
    )
    payload = CheckpointsMissed(checkpoints=[job.key for job, _ in missed], reason=reason)
    stream = week_stream(week_id, MISSED_CHECKPOINTS)
    try:
        events.append(
            [NewEvent.of(payload, stream=stream, week_id=week_id)],
            expected_versions={stream: events.stream_version(stream)},
        )
    except ConcurrencyError:
        return None
    return f"checkpoint(s) never run, New York: {', '.join(spans)}: {reason}"


_LISTED = 4  # a day's checkpoints


def _day(at: datetime) -> str:
    return at.astimezone(NEW_YORK).strftime("%a %Y-%m-%d")
