"""Scheduled checkpoints that no run began in their time: said once, under --quiet too, and recorded.

run-due runs only today's latest checkpoint (a later one supersedes the earlier, and after the close nothing trades),
so a checkpoint whose time passed while no wake-up came is never run. An operator's trial found that said nowhere:
the machine off for a morning lost its 09:00 and 12:00 checkpoints, and a crontab waking every 30 or 60 minutes never
ran the 15:50 one (nothing between 15:50 and the 16:00 close), both silently. Here the first wake-up after such a
checkpoint's time records it (CheckpointsMissed) and says it in one line; `status` counts them. A checkpoint is
looked for only under the schedule in force at its time (the times schedule.yaml gave then: from when run-due found
them, or when the file was written if that is earlier, `_times_in_force`). A checkpoint
begun and left unfinished is another matter, closed past its deadline by app/checkpoint_deadlines.py.
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta
from pathlib import Path

from llmtrade.app.container import Container
from llmtrade.app.missed_reasons import refusals, why_missed
from llmtrade.app.missed_weeks import weeks_not_run_said
from llmtrade.config.loader import PACKAGED
from llmtrade.config.models import ScheduleConfig
from llmtrade.domain.checkpoints import CheckpointCompleted, CheckpointsMissed, CheckpointTimesSeen
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import WeekCompleted, WeekNotRun
from llmtrade.domain.streams import CHECKPOINT_TIMES, MISSED_CHECKPOINTS, week_stream
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import ConcurrencyError
from llmtrade.market.calendar import NEW_YORK, new_york_date
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.checkpoint_close import left_by
from llmtrade.workflows.checkpoint_slot import Slot
from llmtrade.workflows.job_deadlines import passed_checkpoints
from llmtrade.workflows.schedule import Job


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
        in_force = _times_in_force(events, app.loaded.config.schedule, now, _written(app.loaded.source))
        said: list[str] = []
        while week <= current:
            said += [line for line in [_missed_in(app, events, week, now, in_force)] if line]
            week += _WEEK
        said += weeks_not_run_said(app, events, now, set(ran), set(not_run))
    for line in said:
        app.warning(line)


def _times_in_force(
    events: EventStore, schedule: ScheduleConfig, now: datetime, written: datetime | None
) -> list[tuple[datetime, list[str]]]:
    """Each set of checkpoint times run-due has found in schedule.yaml, from when (CheckpointTimesSeen); `schedule`'s
    are recorded (and added) first when they are not the last found. A trial moved the checkpoints from 09:00, 12:00,
    14:00 and 15:50 to 10:30 and 15:50 on a Thursday night: the next wake-up said every 10:30 of that week and the
    week before "never run" and recorded them missed, though no schedule had named them then.

    From when: the file's writing (`written`), when it is before `now` and after the times found before, else `now`.
    A cron user who adds 10:30 on a Thursday evening expects Friday's 10:30 run, or said missed; counted from the next
    wake-up alone, the machine off until Friday noon, it was said of nothing (its wake-up said "Fri 09:00-12:00" under
    the old times), where a wake-up in the evening between would have had it said. A file written before the times
    found before it (copied with its old time kept) tells nothing of when it came: `now`, as before."""
    found = events.read_stream(CHECKPOINT_TIMES)
    seen = [CheckpointTimesSeen.from_event(e) for e in found]
    in_force = [(p.since or e.occurred_at, p.times) for e, p in zip(found, seen, strict=True)]
    times = list(schedule.checkpoints)
    if not in_force or in_force[-1][1] != times:
        after = in_force[-1][0] if in_force else None
        since = written if written is not None and written < now and (after is None or written > after) else None
        payload = CheckpointTimesSeen(times=times, since=since)
        with contextlib.suppress(ConcurrencyError):  # two wake-ups at once: either record serves
            events.append(
                [NewEvent.of(payload, stream=CHECKPOINT_TIMES)], expected_versions={CHECKPOINT_TIMES: len(found)}
            )
        in_force.append((since or now, times))
    return in_force


def _written(source: str) -> datetime | None:
    """When the config folder `source`'s schedule.yaml was last written; None for the packaged defaults, or when it
    cannot be read (the loader read it moments ago: gone since, the next wake-up looks again)."""
    if source == PACKAGED:
        return None
    try:
        return datetime.fromtimestamp((Path(source) / "schedule.yaml").stat().st_mtime, NEW_YORK)
    except OSError:
        return None


def _in_force_at(in_force: list[tuple[datetime, list[str]]], at: datetime) -> tuple[str, ...]:
    """The checkpoint times in force at `at`: the last found by then; before the first found (books older than these
    records), the first, as no other is known."""
    return tuple(next((times for found, times in reversed(in_force) if found <= at), in_force[0][1]))


def _passed(
    schedule: ScheduleConfig, app: Container, week_id: date, now: datetime, in_force: list[tuple[datetime, list[str]]]
) -> list[tuple[Job, datetime]]:
    """The week's checkpoints whose time ended by `now`, each one the schedule in force at its time named, with that
    schedule's end of its time, in time order."""
    passed = []
    for times in dict.fromkeys(tuple(t) for _, t in in_force):
        then = schedule.model_copy(update={"checkpoints": list(times)})
        passed += [
            (job, until)
            for job, until in passed_checkpoints(then, app.calendar, week_id, now)
            if _in_force_at(in_force, job.at) == times
        ]
    return sorted(passed, key=lambda found: found[0].at)


def _missed_in(
    app: Container, events: EventStore, week_id: date, now: datetime, in_force: list[tuple[datetime, list[str]]]
) -> str | None:
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
        for job, until in _passed(app.loaded.config.schedule, app, week_id, now, in_force)
        if job.at > ran and job.key not in done and job.key not in said and _never_begun(events, job)
    ]
    return _record(events, week_id, missed) if missed else None


_WEEK = timedelta(days=7)


def _never_begun(events: EventStore, job: Job) -> bool:
    return left_by(events, Slot(job.day, job.time), job.week_id, []) is None


def _record(events: EventStore, week_id: date, missed: list[tuple[Job, datetime]]) -> str | None:
    """Record `missed` and what to say of it; None when a wake-up running beside this one recorded the week's first.
    One record and one part of the line for each run of checkpoints missed for the same reason (app/missed_reasons.py:
    wake-ups refused for the configuration or the clock, or nothing recorded)."""
    found = refusals(events)
    groups: list[tuple[str, list[tuple[Job, datetime]]]] = []
    for job, until in missed:
        reason = why_missed(events, found, job.at, until)
        if groups and groups[-1][0] == reason:
            groups[-1][1].append((job, until))
        else:
            groups.append((reason, [(job, until)]))
    stream = week_stream(week_id, MISSED_CHECKPOINTS)
    recorded = [
        NewEvent.of(
            CheckpointsMissed(checkpoints=[job.key for job, _ in jobs], reason=reason), stream=stream, week_id=week_id
        )
        for reason, jobs in groups
    ]
    try:
        events.append(recorded, expected_versions={stream: events.stream_version(stream)})
    except ConcurrencyError:
        return None
    return "checkpoint(s) never run, New York: " + "; ".join(f"{_spans(jobs)}: {reason}" for reason, jobs in groups)


def _spans(missed: list[tuple[Job, datetime]]) -> str:
    spans = [f"{_day(job.at)} {job.time}-{until.astimezone(NEW_YORK).strftime('%H:%M')}" for job, until in missed]
    if len(spans) > _LISTED:  # days of downtime: how many and when, not a line of twenty
        (first, _), (_, end) = missed[0], missed[-1]
        spans = [f"{len(missed)}, from {_day(first.at)} {first.time} to {_day(end)} {end.astimezone(NEW_YORK):%H:%M}"]
    return ", ".join(spans)


_LISTED = 4  # a day's checkpoints


def _day(at: datetime) -> str:
    return at.astimezone(NEW_YORK).strftime("%a %Y-%m-%d")
