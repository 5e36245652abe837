"""Deadlines of checkpoints (`checkpoint_deadline`), and `run-due`'s close of those left unfinished past theirs.

A checkpoint whose account holds a symbol without a price now (halted, or at a split's factor from the last close
that no recorded split explains: market/quote_checks.py) or whose owner is unavailable stops with StageDeferred and
exit 75, and run-due retries it until its deadline (schedule.yaml `retry_until`: the day's next checkpoint, else the
close). After that run-due never runs it again (the next checkpoint supersedes it), so it stayed without its marker,
the accounts it never judged recorded nowhere but in a deferral that says "a rerun judges these". Here, at the first
wake-up past the deadline, those accounts are recorded as not judged and why, and the checkpoint is closed
(workflows/checkpoint_close.py `close_unjudged`); the next checkpoint judges them at its own prices.

The same holds for an event checkpoint (fired by a price move, app/event_checkpoints.py), and for a checkpoint whose
last run was killed without deferring (SIGKILL, OOM: `left_by` says it was interrupted). Last week's are looked at
too: a checkpoint still open when the week turned (the machine off, every wake-up after the close put off) is closed
by the next week's first wake-up, and no deadline reaches past the week's turn (its next weekly run), after which no
wake-up would rerun it.
"""

from __future__ import annotations

from contextlib import ExitStack, suppress
from datetime import date, datetime, timedelta

from llmtrade.app import killed_runs
from llmtrade.app.container import Container
from llmtrade.app.desk_brokers import BrokersOf
from llmtrade.app.due_jobs import done_keys
from llmtrade.app.week_mode import in_week_mode
from llmtrade.config.models import AccountRole
from llmtrade.domain.checkpoints import ClosingPutOff
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import CLOSINGS_PUT_OFF, week_stream
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import TemporaryError
from llmtrade.exits import temporary
from llmtrade.market.calendar import new_york_date
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows import event_checkpoint as rule
from llmtrade.workflows.checkpoint_close import Left, close_unjudged, left_by
from llmtrade.workflows.checkpoint_slot import Slot
from llmtrade.workflows.job_deadlines import retry_deadline
from llmtrade.workflows.schedule import JobKind, week_jobs
from llmtrade.workflows.weekly import week_lock


def checkpoint_deadline(app: Container, week_id: date, day: date, time: str) -> datetime | None:
    """Until when the checkpoint of `week_id` at `day` `time` (an event checkpoint's: its firing's) is retried: its
    run's window for temporary failures (app/checkpoint_run.py), the resuming of a fired one, and the closing here.
    schedule.yaml `retry_until`, never past the week's turn (its next weekly run), after which nothing reruns it;
    None: no deadline."""
    schedule = app.loaded.config.schedule
    deadline = retry_deadline(schedule, app.calendar, JobKind.CHECKPOINT, week_id, day, time)
    next_week = week_jobs(schedule, app.calendar, week_id + timedelta(days=7))
    turn = next((j.at for j in next_week if j.kind is JobKind.WEEKLY), None)
    return min(d for d in (deadline, turn) if d is not None) if deadline or turn else None


# RunKilled.found_by of a run found killed by the closing of its checkpoint (no run of its own: a run-due wake-up).
CLOSER = "run-due"


def close_expired_checkpoints(app: Container) -> None:
    """Close this week's and last week's checkpoints left unfinished past their deadline. A closing put off (another
    run holds the week's lock; a broker to ask first did not answer) is recorded (ClosingPutOff) and said: the lock in
    one line without --quiet (a wake-up overlapping a long run is no fault), the broker as the wake-up's exit 75."""
    now = app.clock.now()
    current = week_id_for(new_york_date(now))
    with app.storage() as storage:
        for week_id in (current - timedelta(days=7), current):
            expired = _expired(app, storage.events, week_id, now)
            if not expired:
                continue  # the usual wake-up: nothing to close, no lock taken
            with ExitStack() as held:
                try:
                    held.enter_context(week_lock(storage.conn, week_id, command="run-due"))
                except TemporaryError as exc:
                    app.say(f"{_put_off(storage.events, week_id, [s for s, _, _ in expired], exc)}: {exc}")
                    continue  # the next wake-up closes them
                # A run killed mid-checkpoint is recorded before its closing, whose events go under its id (its trace
                # shows them): recorded after, its RunKilled took the closing's CheckpointCompleted as its last event,
                # and the alert, `status` and the metrics said it was last alive at the closing, hours after it died.
                with suppress(Exception):  # housekeeping: the next run's start records them, and says a failure
                    killed_runs.record_killed_runs(storage, found_by=CLOSER, home=app.settings.home)
                brokers = BrokersOf(in_week_mode(app, week_id, warn=False), storage)
                for slot, deadline, left in _expired(app, storage.events, week_id, now):  # read again under the lock
                    try:
                        app.warning(close_unjudged(storage.events, slot, week_id, deadline, left, brokers))
                    except Exception as exc:
                        if not temporary(exc):
                            raise
                        with suppress(Exception):  # the database itself lost: its own error says it
                            exc.add_note(_put_off(storage.events, week_id, [slot], exc))
                        raise


def _put_off(events: EventStore, week_id: date, slots: list[Slot], why: Exception) -> str:
    """Record that the closing of `slots` is left to the next wake-up, and why; what to say of it (the why apart)."""
    keys = [s.key for s in slots]
    stream = week_stream(week_id, CLOSINGS_PUT_OFF)
    events.append([NewEvent.of(ClosingPutOff(reason=str(why), checkpoints=keys), stream=stream, week_id=week_id)])
    return f"closing of {', '.join(keys)} (past the deadline) left to the next run-due"


def scheduled_open(app: Container, done: set[str], week_id: date, now: datetime) -> list[tuple[Slot, list[str]]]:
    """The week's scheduled checkpoints due by `now` and not complete (`done`: done_keys), each with the accounts it
    judges (FLAT is never judged)."""
    config = app.loaded.config
    everyone = [a.id for a in config.accounts.accounts if a.role is not AccountRole.FLAT]
    return [
        (Slot(j.day, j.time), everyone)
        for j in week_jobs(config.schedule, app.calendar, week_id)
        if j.kind is JobKind.CHECKPOINT and j.at <= now and j.key not in done
    ]


def _expired(app: Container, events: EventStore, week_id: date, now: datetime) -> list[tuple[Slot, datetime, Left]]:
    """The week's checkpoints (scheduled and fired) begun, not complete, past their deadline, with what was left."""
    done = done_keys(events)
    slots = scheduled_open(app, done, week_id, now)
    fired = [t for t in rule.fired(events, week_id) if t.key not in done]
    slots += [(Slot(t.day, t.time, t.account_id), [t.account_id]) for t in fired]
    found = []
    for slot, accounts in slots:
        deadline = checkpoint_deadline(app, week_id, slot.day, slot.time)
        if deadline is None or deadline > now:
            continue
        left = left_by(events, slot, week_id, accounts)
        if left is not None:
            found.append((slot, deadline, left))
    return found
