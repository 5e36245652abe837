"""Closing a checkpoint found not complete past its deadline: what its last run left unfinished and why (`left_by`),
and the closing itself (`close_unjudged`), for run-due's scheduled and event checkpoints alike.

A run leaves a checkpoint unfinished in one of three ways. It deferred (StageDeferred on the checkpoint's held stream,
naming the accounts it waits for and why: a symbol without a price, an owner unavailable), then exit 75. It failed
saying why in its RunFailed (the kill switch blocked its orders). Or it was stopped: SIGKILL, the OOM killer, a crash
(its RunStarted alone), SIGTERM or Ctrl-C (a RunFailed naming the signal); the reason says it was interrupted. Either
way what it had not finished is read from the accounts' streams. Only the last run of the
checkpoint counts: an older run's deferral says nothing of what a later, killed, run did."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from llmtrade.brokers.overfills import filled_whole, part_filled, qty_at
from llmtrade.brokers.protocol import Broker
from llmtrade.domain.checkpoints import CheckpointCompleted, CheckpointSkipped
from llmtrade.domain.events import InputsMissing, NewEvent, StageDeferred, StoredEvent
from llmtrade.domain.runs import RunFailed, RunStarted
from llmtrade.domain.streams import ORDERS, checkpoint_stream, held_stream, run_stream, week_stream
from llmtrade.domain.trading import OrdersPlanned, OrderSubmitted
from llmtrade.exits import signalled
from llmtrade.market.calendar import NEW_YORK, new_york_date
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.splits import recorded_splits
from llmtrade.workflows.checkpoint_slot import Slot, outcome_from
from llmtrade.workflows.plan_recovery import recorded_in, recorded_orders, recover_order_events, sent_with_times


@dataclass(frozen=True)
class Left:
    """The accounts a checkpoint's last run left unfinished; `interrupted`: why, when that run was stopped without
    deferring (None: its StageDeferred says why), and `run_id`, that run's."""

    accounts: list[str]
    interrupted: str | None = None
    run_id: str | None = None


def left_by(events: EventStore, slot: Slot, week_id: date, accounts: list[str]) -> Left | None:
    """What the last run of `slot` left unfinished of `accounts` (those the checkpoint judges); None when no run of it
    ever started (a checkpoint missed, not begun: nothing to close). An event checkpoint's firing is its start."""
    deferrals = events.read_stream(held_stream(slot.stream(week_id)))
    runs = _runs(events, slot, week_id)
    if deferrals and (not runs or runs[-1].run_id == deferrals[-1].run_id):
        return Left(StageDeferred.from_event(deferrals[-1]).waiting)
    if not runs:
        return Left(accounts, "fired, no run of it started") if slot.event_for else None
    last = runs[-1]
    stored = events.read_stream(run_stream(last.run_id or ""))
    ended = [RunFailed.from_event(e) for e in stored if e.type == RunFailed.event_type()]
    at = last.occurred_at.astimezone(NEW_YORK).strftime("%H:%M")
    unfinished = [a for a in accounts if not _finished(events, slot, week_id, a)]
    if ended and not signalled(ended[-1].error_type, ended[-1].exit_code):
        # Not interrupted: it stopped on an error it said (the kill switch blocking its orders, say).
        return Left(unfinished, f"its run {last.run_id} (started {at}) failed: {ended[-1].error}", last.run_id)
    how = f"stopped by {ended[-1].error_type}: {ended[-1].error}" if ended else "ended without a word (killed?)"
    return Left(unfinished, f"interrupted: its run {last.run_id} (started {at}) {how}", last.run_id)


def wait_repeated(events: EventStore, slot: Slot, week_id: date) -> bool:
    """The last run of `slot` deferred the same accounts at the same stage for the same problems as the run before it:
    the same wait, said already by the wake-up that ran that one (app/due_waits.py)."""
    deferrals = events.read_stream(held_stream(slot.stream(week_id)))
    runs = _runs(events, slot, week_id)
    if len(deferrals) < 2 or len(runs) < 2:
        return False
    if (deferrals[-1].run_id, deferrals[-2].run_id) != (runs[-1].run_id, runs[-2].run_id):
        return False  # the last run stopped otherwise, or a run between them did not defer
    now, before = (StageDeferred.from_event(e) for e in deferrals[-2:][::-1])
    same = now.stage == before.stage and sorted(now.waiting) == sorted(before.waiting)
    return same and _problems(now) == _problems(before)


def _problems(deferred: StageDeferred) -> list[str]:
    """What each account waits for, as a mail tells problems apart: the symbol and why (another symbol of the same
    account, or its price refused for another reason, is a new problem), without the figures every attempt changes
    (the time asked, the quote's time and age, the price)."""
    return sorted(without_figures(error) for error in deferred.errors)


def without_figures(problem: str) -> str:
    """`problem` with each figure (and its unit) as '#': two attempts that met the same problem read the same, though
    the time asked, a quote's age or a price changed between them."""
    return _FIGURES.sub("#", problem)


# A figure with its unit, if any: a quote's age reads "35 min old" and then "2.7 h old".
_FIGURES = re.compile(r"\d+(?:[.:]\d+)*(?: ?(?:ms|s|sec|seconds?|min|minutes?|h|hours?|d|days?)\b)?")
_EVER = datetime.max.replace(tzinfo=UTC)  # every split recorded since an order was sent: Alpaca has applied it


def waited(events: EventStore, week_id: date, day: date, label: str) -> str | None:
    """How the checkpoint (day, label: Slot.label) waited before it finished, for the line that says the wait is over:
    since when, and the accounts its first deferral named; None when it never waited."""
    deferrals = events.read_stream(held_stream(checkpoint_stream(week_id, day, label)))
    if not deferrals:
        return None
    first = StageDeferred.from_event(deferrals[0])
    since = deferrals[0].occurred_at.astimezone(NEW_YORK).strftime("%H:%M")
    return f"waited since {since} ({', '.join(first.waiting)}; {len(deferrals)} attempt(s) deferred)"


def _runs(events: EventStore, slot: Slot, week_id: date) -> list[StoredEvent]:
    """The RunStarted of every run of `slot`, oldest first: a checkpoint run's arguments name its time (and an event
    checkpoint's key); its day is the New York day it ran on (jobs.py `checkpoint` judges today's)."""
    event = slot.key if slot.event_for else None
    started = [(e, RunStarted.from_event(e)) for e in events.read(week_id=week_id, type=RunStarted.event_type())]
    return [
        e
        for e, run in started
        if run.command == "checkpoint"
        and run.arguments.get("time") == slot.time
        and run.arguments.get("event") == event
        and new_york_date(e.occurred_at) == slot.day
    ]


def _finished(events: EventStore, slot: Slot, week_id: date, account_id: str) -> bool:
    """The account's part of the checkpoint is done: skipped, or judged with its plan's orders all recorded."""
    stored = events.read_stream(slot.stream(week_id, account_id))
    outcome = outcome_from(account_id, stored)
    if outcome.skipped is not None:
        return True
    if outcome.orders is None:
        return False
    recorded = {r.order.client_order_id for r in recorded_orders(events, week_stream(week_id, ORDERS))}
    return all(o.client_order_id in recorded for o in outcome.orders.orders)


def close_unjudged(
    events: EventStore,
    slot: Slot,
    week_id: date,
    deadline: datetime,
    left: Left,
    broker_of: Callable[[str], Broker | None],
) -> str:
    """Close the checkpoint `slot`, found not complete past its `deadline`, and say how (one line): each account `left`
    unfinished (judged by no run, or judged and not traded) is recorded as not judged (CheckpointSkipped, unless it
    was judged) with InputsMissing and why (the last run's StageDeferred, or its interruption), then the marker. A
    checkpoint waits for a price or an owner until its deadline (exit 75); past it the wait would fail every cron
    wake-up till a price comes, which a halted, delisted or crashed-at-a-split's-factor symbol may not give that day.

    An account judged and decided whose plan's orders are not all recorded may have them at its broker (`broker_of`
    its id): a run that died, or timed out, after the broker took an order. The broker is asked first, each order it
    holds recorded from its answer (workflows/execution.py `recover_orders`) and named, not closed as not traded."""
    marker = slot.stream(week_id)
    deferrals = [] if left.interrupted else events.read_stream(held_stream(marker))
    last = StageDeferred.from_event(deferrals[-1]) if deferrals else None
    run_id = (deferrals[-1].run_id if deferrals else left.run_id) or f"closed {deadline.isoformat()}"
    until = deadline.astimezone(NEW_YORK).isoformat()
    batch: list[NewEvent] = []
    said: dict[str, list[str]] = {}  # reason -> the accounts closed for it: five accounts stopped alike are one clause
    for account_id in left.accounts:
        errors = [e for e in (last.errors if last else []) if e.startswith(f"{account_id}:")] or [
            left.interrupted or "no run finished it"
        ]
        stream = slot.stream(week_id, account_id)
        stored = events.read_stream(stream)
        judged = bool(stored)
        sent, unknown = _sent(events, stored, week_id, run_id, broker_of) if judged else ([], "")
        parts = ([f"orders at the broker ({', '.join(sent)})"] if sent else []) + ([unknown] if unknown else [])
        how = f"judged, {'; '.join(parts)}" if parts else "judged, not traded" if judged else ""
        reason = f"{how or 'not judged'} by the deadline {until}: {'; '.join(errors)}"
        skipped = [] if judged else [CheckpointSkipped(account_id=account_id, reason=reason)]
        missing = InputsMissing(
            stage=last.stage if last else "prepare", missing=[account_id], errors=[reason], deadline=deadline
        )
        batch += [
            NewEvent.of(p, stream=stream, week_id=week_id, run_id=run_id, account_id=account_id)
            for p in [*skipped, missing]
        ]
        said.setdefault(reason, []).append(account_id)
    completed = CheckpointCompleted(week_id=week_id, day=slot.day, time=slot.label, run_id=run_id)
    batch.append(NewEvent.of(completed, stream=marker, week_id=week_id, run_id=run_id))
    events.append(batch, expected_versions={marker: 0})
    if not said:  # a run stopped after every account's part, before its marker
        return f"{slot.key} closed ({left.interrupted}): every account's part was done"
    clauses = [f"{', '.join(accounts)} {reason}" for reason, accounts in said.items()]
    return f"{slot.key} closed: {'; '.join(clauses)}; the next scheduled checkpoint judges them"


def _sent(
    events: EventStore,
    stored: list[StoredEvent],
    week_id: date,
    run_id: str,
    broker_of: Callable[[str], Broker | None],
) -> tuple[list[str], str]:
    """The orders of the account's checkpoint plan (in `stored`) that are at its broker, each "side qty SYMBOL
    status" (those the week's orders stream lacks looked up at the broker and recorded from its answer), and what
    could not be looked up and why ("" when nothing): with no broker configured for the account, or another broker
    than the plan's (an account moved from alpaca to paper cannot tell whether alpaca holds the plan's orders), the
    orders are neither assumed sent nor assumed not sent."""
    plan = next((OrdersPlanned.from_event(e) for e in stored if e.type == OrdersPlanned.event_type()), None)
    if plan is None or not plan.orders:
        return [], ""
    stream = week_stream(week_id, ORDERS)
    ours = {o.client_order_id for o in plan.orders}
    history = events.read_stream(stream)
    # Each with when it was recorded sent (a split recorded before then never scaled it: `_part`), from this one read.
    recorded = [(s, at) for s, at in sent_with_times(events, history) if s.order.client_order_id in ours]
    have = {r.order.client_order_id for r in recorded_in(events, history)}
    missing = [o for o in plan.orders if o.client_order_id not in have]
    unknown = ""
    if missing:
        broker = broker_of(plan.account_id)
        if broker is None or broker.name != plan.broker:
            why = (
                "no broker configured"
                if broker is None
                else f"planned for the {plan.broker} broker, the account now uses {broker.name}"
            )
            orders = ", ".join(f"{o.side.value} {o.qty} {o.symbol}" for o in missing)
            unknown = f"orders not looked up ({why}; whether the broker holds them is unknown: {orders})"
        else:
            found = recover_order_events(events, broker, plan, stream=stream, week_id=week_id, run_id=run_id)
            recorded += sent_with_times(events, found)
    found = [
        f"{r.order.side.value} {r.order.qty} {r.order.symbol} {r.result.status.value}{_part(events, r, at)}"
        for r, at in recorded
    ]
    return found, unknown


def _part(events: EventStore, submitted: OrderSubmitted, sent_at: datetime) -> str:
    """How much of a working or ended order filled, when some but not all of it did (Alpaca's partially_filled is
    ours "accepted"): " (4 filled)"; in the shares of the splits recorded since it was sent when there are any
    (Alpaca scales an open order's qty and filled_qty at a split, alpacahq/alpaca-py #469): " (1 of 2 filled, 10
    sent before the 1-for-5 split)", and nothing of one filled whole in them; not those recorded before it was sent
    (`sent_at`), whose shares it was sized in. The splits are read only for a fill of another number of shares than
    sent."""
    order, filled = submitted.order, submitted.result.filled_qty
    if not filled or filled == order.qty:
        return ""
    splits = recorded_splits(events)
    meant = qty_at(order, _EVER, splits, sent_at)
    if meant == order.qty:
        return f" ({filled} filled)" if filled < order.qty else ""  # past the qty: an overfill, said where booked
    if filled_whole(filled, meant):
        return ""
    return f" ({part_filled(order, filled, _EVER, splits, sent_at)})"
