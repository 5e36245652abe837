"""`run-due`'s event checkpoints: an extra checkpoint for an account whose instrument moved too far.

After the scheduled jobs, while the market is open and this week's weekly run is done, under the
week lock: first any event checkpoint fired today and not completed (a run that crashed or was
stopped is resumed under its own key, never fired again), then, per account, the price now from the
quote service against its last checkpoint's price (workflows/event_checkpoint.py decides). A firing
is recorded (EventCheckpointTriggered, appended at the version read, so two processes cannot both
fire) before its checkpoint runs for that account alone. Another process holding the week lock leaves
this to the next `run-due` (recorded as EventChecksDeferred, said only without --quiet: a wake-up overlapping
a long run is no fault); a symbol without a price now is reported (once while it lasts: app/event_quotes_said.py) and
skipped (a print refused as a bad one recorded, QuoteRefused on the same stream, so the next wake-up's same price
confirms a real move).

A fired checkpoint that cannot finish (its account holds a symbol without a price now, its owner unavailable) waits
(exit 75, without holding back the wake-up's other work: app/due_run.py `run_due`) and is resumed by the next wake-up,
until its deadline (schedule.yaml `retry_until`: the day's next scheduled checkpoint, else the close). Past it, it is
no longer resumed: the next wake-up's first step closes it, the account recorded as not judged and why
(app/checkpoint_deadlines.py, which closes scheduled checkpoints the same way, this week's and last week's). A halted or
delisted symbol never fails cron every five minutes for the rest of the day, and the account's judgement is left to
its next scheduled checkpoint, not lost without a word.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import date, datetime
from functools import partial

from llmtrade.app.checkpoint_deadlines import checkpoint_deadline, scheduled_open
from llmtrade.app.checkpoint_run import run_checkpoint
from llmtrade.app.container import Container
from llmtrade.app.due_jobs import done_keys
from llmtrade.app.due_not_run import record_not_run
from llmtrade.app.due_waits import Waits
from llmtrade.app.event_quotes_said import say_no_price, say_priced
from llmtrade.app.guards import closed_at
from llmtrade.app.results import DueJobRun
from llmtrade.app.week_mode import as_week_began
from llmtrade.config.models import AccountRole
from llmtrade.domain.checkpoints import DueJobNotRun, EventCheckpointTriggered, EventChecksDeferred
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import EVENT_CHECKS, week_stream
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import LlmtradeError, TemporaryError
from llmtrade.exits import stopped_by_signal, temporary
from llmtrade.market.calendar import NEW_YORK, new_york_date
from llmtrade.market.quote_checks import recorded_quotes
from llmtrade.market.quotes import Sightings
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits
from llmtrade.workflows import event_checkpoint as rule
from llmtrade.workflows.checkpoint_close import left_by, wait_repeated
from llmtrade.workflows.checkpoint_slot import Slot
from llmtrade.workflows.weekly import completion, require_same_mode, week_lock


def run_event_checkpoints(app: Container, waits: Waits) -> list[DueJobRun]:
    """Every event checkpoint run now, in order (see the module docstring); [] when none is called for. One that
    waits (a temporary failure, exit 75) is added to `waits` and the others still run: each account's is its own; one
    that fails otherwise (exit 1) is too, as a failure (`Waits.fail`), raised once the wake-up's other pieces ran."""
    setting = app.loaded.config.schedule.event_checkpoint
    now = app.clock.now()
    if not setting.enabled:
        return []
    in_session = app.calendar.is_open(now)
    week_id = week_id_for(new_york_date(now))
    with app.storage() as storage, ExitStack() as stack:
        if completion(storage.events, week_id) is None or closed_at(storage, week_id) is not None:
            return []  # not begun, or closed by its postmortem (only a clock set back finds that in session)
        if not in_session:  # a checkpoint past its deadline is closed by app/checkpoint_deadlines.py
            return []
        # An offline (or synthetic-priced) week's event checkpoints run as it began; said only when one runs (run-due
        # wakes every few minutes).
        app, began = as_week_began(app, week_id)
        require_same_mode(storage.events, week_id, app.mode, app.decision.reason)
        try:
            stack.enter_context(week_lock(storage.conn, week_id, command="run-due"))
        except TemporaryError as exc:
            stream = week_stream(week_id, EVENT_CHECKS)
            storage.events.append([NewEvent.of(EventChecksDeferred(reason=str(exc)), stream=stream, week_id=week_id)])
            app.say(f"event checkpoints left to the next run-due: {exc}")
            return []
        done = done_keys(storage.events)
        held = _left_by_scheduled(app, storage.events, done, week_id, now)
        open_ = [t for t in rule.fired(storage.events, week_id) if t.key not in done]
        unfinished = [
            t
            for t in open_
            if t.day == new_york_date(now) and t.account_id not in held and _resumed(app, week_id, t, now)
        ]
        # An account whose firing is still open (resumed, or past its deadline and not yet closed) fires no other.
        triggers = unfinished + _fire(app, storage, week_id, now, {t.account_id for t in open_} | held)
        if triggers and began is not None:
            app.warning(began)
        results = []
        for trigger in triggers:
            # Each checkpoint at the clock's time when it begins, not the wake-up's: the ones before it ran for minutes
            # (their owners asked), and the fifth of five, priced at the wake-up's start, had a price 24 minutes old,
            # refused as stale (exit 75), at each wake-up until its deadline. A chosen clock reads the same instant.
            begins = app.clock.now()
            if not _resumed(app, week_id, trigger, begins):
                # Its deadline passed while those before it ran: the next wake-up closes it, as any past it; on record
                # now why this one, which found it due, did not begin it.
                why = f"its deadline passed before it began (at {begins.astimezone(NEW_YORK):%H:%M:%S} New York)"
                not_run = DueJobNotRun(
                    job=trigger.key, kind="event checkpoint", reason=why, account_id=trigger.account_id
                )
                record_not_run(app, week_id, not_run, storage)
                continue
            if not app.calendar.is_open(begins):
                # The session closed while those before it ran, its deadline (retry_until in minutes) later: judged now,
                # it traded at the day's close with its orders sent for tomorrow's open, where a scheduled checkpoint
                # begun after the close is not run (SessionOver). Its deadline's closing closes it, as any not run.
                why = f"the {trigger.day} session closed before it began"
                app.say(f"{trigger.key} not run: {why}")
                not_run = DueJobNotRun(
                    job=trigger.key, kind="event checkpoint", reason=why, account_id=trigger.account_id
                )
                record_not_run(app, week_id, not_run, storage)
                continue
            app.say(
                f"due: {trigger.key} ({trigger.symbol} {trigger.move:+.2%} from {trigger.reference_price:.2f} "
                f"at {trigger.reference_at.isoformat()} to {trigger.price:.2f} at {trigger.price_at.isoformat()})"
            )
            slot = Slot(trigger.day, trigger.time, trigger.account_id)
            try:
                report = run_checkpoint(
                    app,
                    storage,
                    week_id=week_id,
                    slot=slot,
                    now=begins,
                    dry_run=False,
                    arguments={"time": trigger.time, "event": trigger.key, "dry_run": False},
                )
            except Exception as exc:
                if stopped_by_signal(exc) is not None:
                    raise  # SIGTERM or Ctrl-C: nothing more runs (its way out may raise a database error)
                if temporary(exc):
                    waits.add(exc, repeated=wait_repeated(storage.events, slot, week_id))
                else:  # one account's problem (its owner's key refused...): the other accounts' still run
                    waits.fail(exc)
                continue
            results.append(DueJobRun(job=trigger.key, kind="checkpoint", report=report, trigger=trigger))
    return results


def _left_by_scheduled(app: Container, events: EventStore, done: set[str], week_id: date, now: datetime) -> set[str]:
    """The accounts a scheduled checkpoint begun and not complete left unfinished (waiting, or its run stopped, maybe
    with an order of its plan at the broker and not recorded). A wake-up's pieces run on when one waits (app/jobs.py
    `run_due`), so without this an event checkpoint judged such an account again, on the positions of a plan half sent,
    before the scheduled checkpoint's resume (or its closing) asked the broker what it holds of it."""
    held: set[str] = set()
    for slot, accounts in scheduled_open(app, done, week_id, now):
        left = left_by(events, slot, week_id, accounts)
        held |= set(left.accounts) if left else set()
    return held


def _resumed(app: Container, week_id: date, trigger: EventCheckpointTriggered, now: datetime) -> bool:
    """A fired checkpoint not complete is resumed until its deadline; past it the next wake-up's first step closes it
    (app/checkpoint_deadlines.py)."""
    deadline = checkpoint_deadline(app, week_id, trigger.day, trigger.time)
    return deadline is None or now < deadline


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
            say_no_price(app, events, account.id, reference.symbol, str(exc))  # once while it lasts (its own module)
            continue
        say_priced(app, events, account.id, reference.symbol)
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
