"""`run-due`'s event checkpoints: an extra checkpoint for an account whose instrument moved too far.

After the scheduled jobs, while the market is open and this week's weekly run is done, under the
week lock: first any event checkpoint fired today and not completed (a run that crashed or was
stopped is resumed under its own key, never fired again), then, per account, the price now from the
quote service against its last checkpoint's price (workflows/event_checkpoint.py decides). A firing
is recorded (EventCheckpointTriggered, appended at the version read, so two processes cannot both
fire) before its checkpoint runs for that account alone. Another process holding the week lock leaves
this to the next `run-due` (recorded as EventChecksDeferred, said only without --quiet: a wake-up overlapping
a long run is no fault); a symbol without a price now is reported and skipped (a print refused as a bad one
recorded, QuoteRefused on the same stream, so the next wake-up's same price confirms a real move).

A fired checkpoint that cannot finish (its account holds a symbol without a price now, its owner unavailable) stops
the wake-up with exit 75 and is resumed by the next, until its deadline (schedule.yaml `retry_until`: the day's next
scheduled checkpoint, else the close); past it the wake-up goes on: the checkpoint is closed, the account recorded as
not judged and why (CheckpointSkipped and InputsMissing, from the last run's StageDeferred), and said. A halted or
delisted symbol never fails cron every five minutes for the rest of the day, and the account's judgement is left to
its next scheduled checkpoint, not lost without a word (`_close_expired`, even after the close or the next morning).
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import date, datetime
from functools import partial

from llmtrade.app.checkpoint_run import run_checkpoint
from llmtrade.app.container import Container
from llmtrade.app.desk_brokers import BrokersOf
from llmtrade.app.queries import done_keys
from llmtrade.app.results import DueJobRun
from llmtrade.app.week_mode import in_week_mode, offline_note
from llmtrade.config.models import AccountRole
from llmtrade.domain.checkpoints import EventCheckpointTriggered, EventChecksDeferred
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import EVENT_CHECKS, week_stream
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import LlmtradeError, TemporaryError
from llmtrade.market.calendar import new_york_date
from llmtrade.market.quote_checks import recorded_quotes
from llmtrade.market.quotes import Sightings
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.splits import recorded_splits
from llmtrade.workflows import event_checkpoint as rule
from llmtrade.workflows.checkpoint_slot import Slot, close_unjudged
from llmtrade.workflows.schedule import JobKind, retry_deadline
from llmtrade.workflows.weekly import completion, require_same_mode, week_lock


def run_event_checkpoints(app: Container) -> list[DueJobRun]:
    """Every event checkpoint run now, in order (see the module docstring); [] when none is called for."""
    setting = app.loaded.config.schedule.event_checkpoint
    now = app.clock.now()
    if not setting.enabled:
        return []
    in_session = app.calendar.is_open(now)
    week_id = week_id_for(new_york_date(now))
    # An offline week's event checkpoints run offline; said only when one runs (run-due wakes every few minutes).
    invoked, app = app, in_week_mode(app, week_id, warn=False)
    with app.storage() as storage, ExitStack() as stack:
        if completion(storage.events, week_id) is None:
            return []
        # Out of session only a checkpoint past its deadline is closed: the lock is not taken for nothing.
        if not in_session and not _expired(app, storage, week_id, now):
            return []
        require_same_mode(storage.events, week_id, app.mode)
        try:
            stack.enter_context(week_lock(storage.conn, week_id, command="run-due"))
        except TemporaryError as exc:
            stream = week_stream(week_id, EVENT_CHECKS)
            storage.events.append([NewEvent.of(EventChecksDeferred(reason=str(exc)), stream=stream, week_id=week_id)])
            app.say(f"event checkpoints left to the next run-due: {exc}")
            return []
        _close_expired(app, storage, week_id, now)
        if not in_session:
            return []
        unfinished = _unfinished(storage, week_id, now)
        triggers = unfinished + _fire(app, storage, week_id, now, {t.account_id for t in unfinished})
        if triggers and app is not invoked:
            app.warning(offline_note(week_id))
        results = []
        for trigger in triggers:
            app.say(
                f"due: {trigger.key} ({trigger.symbol} {trigger.move:+.2%} from {trigger.reference_price:.2f} "
                f"at {trigger.reference_at.isoformat()} to {trigger.price:.2f} at {trigger.price_at.isoformat()})"
            )
            report = run_checkpoint(
                app,
                storage,
                week_id=week_id,
                slot=Slot(trigger.day, trigger.time, trigger.account_id),
                now=now,
                dry_run=False,
                arguments={"time": trigger.time, "event": trigger.key, "dry_run": False},
            )
            results.append(DueJobRun(job=trigger.key, kind="checkpoint", report=report, trigger=trigger))
    return results


def _unfinished(storage: Storage, week_id: date, now: datetime) -> list[EventCheckpointTriggered]:
    """Today's fired event checkpoints without their completion marker (an earlier run stopped)."""
    done = done_keys(storage.events)
    today = new_york_date(now)
    return [t for t in rule.fired(storage.events, week_id) if t.day == today and t.key not in done]


def _deadline(app: Container, week_id: date, trigger: EventCheckpointTriggered) -> datetime | None:
    """Until when a rerun resumes the fired checkpoint: the one its own run retries until (app/checkpoint_run.py)."""
    schedule = app.loaded.config.schedule
    return retry_deadline(schedule, app.calendar, JobKind.CHECKPOINT, week_id, trigger.day, trigger.time)


def _expired(
    app: Container, storage: Storage, week_id: date, now: datetime
) -> list[tuple[EventCheckpointTriggered, datetime]]:
    """The week's fired event checkpoints not completed whose deadline has passed, with it."""
    done = done_keys(storage.events)
    found = [(t, _deadline(app, week_id, t)) for t in rule.fired(storage.events, week_id) if t.key not in done]
    return [(t, deadline) for t, deadline in found if deadline is not None and deadline <= now]


def _close_expired(app: Container, storage: Storage, week_id: date, now: datetime) -> None:
    """Close each fired checkpoint past its deadline (read again under the week lock): its account, not judged yet
    (or judged and not traded), is recorded so with why (workflows/checkpoint_slot.py `close_unjudged`)."""
    brokers = BrokersOf(app, storage)
    for trigger, deadline in _expired(app, storage, week_id, now):
        slot = Slot(trigger.day, trigger.time, trigger.account_id)
        app.warning(close_unjudged(storage.events, slot, week_id, deadline, [trigger.account_id], brokers))


def _fire(
    app: Container, storage: Storage, week_id: date, now: datetime, pending: set[str]
) -> list[EventCheckpointTriggered]:
    """Record a trigger for each account (not `pending` already) whose instrument moved beyond the
    threshold; return them."""
    events, setting = storage.events, app.loaded.config.schedule.event_checkpoint
    market = app.market(storage, record=False)
    # A wake-up records no fetch (it comes every few minutes), but a print it refuses as a bad one is kept: with one
    # provider, a real crash is confirmed only by the same price seen again at another time, here the next wake-up's.
    stream = week_stream(week_id, EVENT_CHECKS)
    sightings = Sightings(
        earlier=partial(recorded_quotes, events, week_id),
        record=lambda refused: events.append([NewEvent.of(refused, stream=stream, week_id=week_id)]),
    )
    quotes = app.quotes(storage, market, sightings=sightings)
    new: list[EventCheckpointTriggered] = []
    splits = recorded_splits(events)
    for account in app.loaded.config.accounts.accounts:
        if account.role is AccountRole.FLAT or account.id in pending:
            continue
        reference = rule.reference_price(events, week_id, account.id)
        if reference is None:
            continue
        last = rule.last_fired(events, account.id)
        try:
            quote = quotes.quote(reference.symbol, now)
        except LlmtradeError as exc:
            app.warning(f"{account.id}: no price for {reference.symbol} now, no event checkpoint ({exc})")
            continue
        trigger = rule.decide(setting, account.id, reference, quote, now, last, splits)
        if trigger is None:
            continue
        stream = rule.stream_of(week_id, account.id)
        events.append(
            [NewEvent.of(trigger, stream=stream, week_id=week_id, account_id=account.id)],
            expected_versions={stream: len(events.read_stream(stream))},
        )
        new.append(trigger)
    return new
