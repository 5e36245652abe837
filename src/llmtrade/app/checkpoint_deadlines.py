"""`run-due`'s close of scheduled checkpoints left waiting past their deadline.

A checkpoint whose account holds a symbol without a price now (halted, or at a split's factor from the last close
that no recorded split explains: market/quote_checks.py) or whose owner is unavailable stops with StageDeferred and
exit 75, and run-due retries it until its deadline (schedule.yaml `retry_until`: the day's next checkpoint, else the
close). After that run-due never runs it again (the next checkpoint supersedes it), so it stayed without its marker,
the accounts it never judged recorded nowhere but in a deferral that says "a rerun judges these". Here, at the first
wake-up past the deadline, those accounts are recorded as not judged and why, and the checkpoint is closed
(workflows/checkpoint_slot.py `close_unjudged`); the next checkpoint judges them at its own prices. A checkpoint
stopped without a deferral (killed) is left as it is: its rerun resumes it while it is due.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from llmtrade.app.container import Container
from llmtrade.app.desk_brokers import BrokersOf
from llmtrade.app.queries import done_keys
from llmtrade.app.week_mode import in_week_mode
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import TemporaryError
from llmtrade.market.calendar import new_york_date
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.checkpoint_slot import Slot, close_unjudged, waiting_accounts
from llmtrade.workflows.schedule import Job, JobKind, retry_deadline, week_jobs
from llmtrade.workflows.weekly import week_lock


def close_expired_checkpoints(app: Container) -> None:
    """Close this week's and last week's scheduled checkpoints that deferred accounts and are past their deadline."""
    now = app.clock.now()
    current = week_id_for(new_york_date(now))
    weeks = [current - timedelta(days=7), current]
    jobs = [
        j for w in weeks for j in week_jobs(app.loaded.config.schedule, app.calendar, w) if j.kind is JobKind.CHECKPOINT
    ]
    if not any(j.at <= now for j in jobs):
        return
    with app.storage() as storage:
        for week_id in weeks:
            mine = [j for j in jobs if j.week_id == week_id]
            if not _expired(app, storage.events, mine, now):
                continue  # the usual wake-up: nothing to close, no lock taken
            try:
                with week_lock(storage.conn, week_id, command="run-due"):
                    brokers = BrokersOf(in_week_mode(app, week_id, warn=False), storage)
                    for job, deadline, waiting in _expired(app, storage.events, mine, now):
                        slot = Slot(job.day, job.time)
                        app.warning(close_unjudged(storage.events, slot, week_id, deadline, waiting, brokers))
            except TemporaryError:
                continue  # a run of the week is going on: the next wake-up closes them


def _expired(
    app: Container, events: EventStore, jobs: list[Job], now: datetime
) -> list[tuple[Job, datetime, list[str]]]:
    """The checkpoints of `jobs` not complete, past their deadline, whose last run left accounts waiting."""
    done = done_keys(events)
    found = []
    for job in jobs:
        if job.key in done or job.at > now:
            continue
        schedule = app.loaded.config.schedule
        deadline = retry_deadline(schedule, app.calendar, JobKind.CHECKPOINT, job.week_id, job.day, job.time)
        if deadline is None or deadline > now:
            continue
        waiting = waiting_accounts(events, Slot(job.day, job.time), job.week_id)
        if waiting:
            found.append((job, deadline, waiting))
    return found
