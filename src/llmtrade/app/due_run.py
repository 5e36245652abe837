"""run-due: one cron wake-up, every scheduled job due and not done yet (app/jobs.py's weekly run, checkpoint and
postmortem, in order), then the event checkpoints a price move calls for and the discovery's forward returns. A
temporary failure of one piece (exit 75) is kept as a wait and the next piece still runs (`_attempt`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import TypeVar

from llmtrade.app.checkpoint_deadlines import close_expired_checkpoints
from llmtrade.app.container import Container
from llmtrade.app.discovery import discover_before_weekly, fill_forward_returns
from llmtrade.app.due_jobs import due
from llmtrade.app.due_not_run import record_not_run
from llmtrade.app.due_said import COMMANDS as _COMMANDS
from llmtrade.app.due_said import say_waits_over
from llmtrade.app.due_waits import Waits, kill_switch_said, run_wait_repeated
from llmtrade.app.event_checkpoints import run_event_checkpoints
from llmtrade.app.jobs import checkpoint, postmortem, weekly
from llmtrade.app.missed_checkpoints import say_missed_checkpoints
from llmtrade.app.orphaned_positions import say_orphaned_positions
from llmtrade.app.results import CheckpointResult, DueJobRun, PostmortemResult, RunDueResult, WeeklyOutcome
from llmtrade.app.week_mode import in_week_mode
from llmtrade.domain.checkpoints import DueJobNotRun
from llmtrade.domain.trading import OrdersPlanned
from llmtrade.errors import SessionOver
from llmtrade.exits import temporary
from llmtrade.workflows.checkpoint_close import wait_repeated
from llmtrade.workflows.checkpoint_slot import Slot
from llmtrade.workflows.execution import queued_order_ids
from llmtrade.workflows.schedule import Job, JobKind
from llmtrade.workflows.week_holds import trading_accounts

T = TypeVar("T")


@dataclass(frozen=True)
class DueWake:
    """What one run-due wake-up ran (`results`) and what it left waiting (`waits`)."""

    results: RunDueResult
    waits: Waits


def run_due(app: Container) -> DueWake:
    """Run whatever is due and not yet done, in order, then any event checkpoint a price move calls for
    (see app/event_checkpoints.py), then the discovery forward returns; nothing else.

    Each piece runs even when one before it waits (a temporary failure, exit 75: a halted symbol, an owner
    unavailable, a broker that did not answer): one account's event checkpoint holds back neither the others' nor
    the forward returns. The wake-up still exits 75, after its results are said. Only the scheduled jobs stop at
    their first wait: each needs the one before (last week's postmortem, then the weekly run, then its checkpoints)."""
    results: list[DueJobRun] = []
    with app.storage(persist=False) as storage:
        waits = Waits(kill_switch_said=kill_switch_said(storage.events))
    # A checkpoint left waiting past its deadline is never due again: closed first.
    _attempt(waits, lambda: close_expired_checkpoints(app))
    # Checkpoints no wake-up ran in their time, and whole weeks it never ran (skipped): each said once.
    _attempt(waits, lambda: say_missed_checkpoints(app))
    _attempt(waits, lambda: say_orphaned_positions(app))  # accounts taken out of accounts.yaml still holding
    for job in due(app):
        queued = _queued_or_unknown(app, job.week_id) if job.kind is JobKind.WEEKLY else {}
        if queued:
            orders = "; ".join(f"account {account}: {', '.join(ids)}" for account, ids in queued.items())
            # The run would only stop at its first look at the accounts (exit 75, mailed by cron at every wake-up
            # until the open, found by the new-user trial): nothing to do yet, not a failure.
            app.say(
                f"{job.key} waits for the open: {sum(map(len, queued.values()))} order(s) queued for it fill first "
                f"({orders}); "
                "a run-due after the open runs it"
            )
            continue
        app.say(f"due: {job.kind.value} {job.key} (scheduled {job.at.isoformat()})")
        try:
            report = _attempt(waits, partial(_scheduled, app, job), _repeated(app, job))
        except SessionOver as over:
            # Due when listed, before the close; begun after it, the clock having moved while the jobs and looks before
            # it ran: no longer due, as the next wake-up's list says. Not the usage error a command by hand gets (exit
            # 2, the wake-up's event checkpoints and forward returns left undone).
            app.say(f"{job.key} not run: {over}")
            record_not_run(app, job.week_id, DueJobNotRun(job=job.key, kind=job.kind.value, reason=str(over)))
            continue
        if report is None:
            break
        # Said as each job ends, not once all have run: a wake-up stopped by a later job (a weekly run failing, exit
        # 1, or a SIGTERM) never said the late postmortem before it, and the next found it done.
        ran = DueJobRun(job=job.key, kind=job.kind.value, report=report)
        results.extend(say_waits_over(app, [ran], {job.key: job.at}))
    # After the scheduled jobs: a checkpoint that just ran is the reference a move is measured from.
    moved = _attempt(waits, lambda: run_event_checkpoints(app, waits)) or []
    results.extend(say_waits_over(app, moved, {}))
    _attempt(waits, lambda: fill_forward_returns(app))  # discovery's matured outcomes (issue 15), daily
    return DueWake(RunDueResult(results), waits)


def _scheduled(app: Container, job: Job) -> PostmortemResult | WeeklyOutcome | CheckpointResult:
    if job.kind is JobKind.POSTMORTEM:
        return postmortem(app, week=job.week_id)
    if job.kind is JobKind.WEEKLY:
        discover_before_weekly(app, job.week_id)  # issue 15: the week's watchlist first
        return weekly(app, week=job.week_id, dry_run=False)
    return checkpoint(app, job.time, week=job.week_id, dry_run=False)


def _attempt(waits: Waits, work: Callable[[], T], repeated: Callable[[], bool] = lambda: False) -> T | None:
    """`work()`, or None with its failure added to `waits` when it is a temporary one (exit 75: exits.py decides,
    ours or the database's, inside a stage or not); any other failure stops the wake-up."""
    try:
        return work()
    except Exception as exc:
        if not temporary(exc):
            raise
        try:
            said = repeated()
        except Exception:  # the database lost with it: said, as a new wait is
            said = False
        waits.add(exc, repeated=said)
        return None


def _repeated(app: Container, job: Job) -> Callable[[], bool]:
    """Whether the scheduled `job` now waits as its run before did (app/due_waits.py)."""
    since = app.clock.now()  # before the job's run began

    def repeated() -> bool:
        with app.storage(persist=False) as storage:
            if job.kind is JobKind.CHECKPOINT:
                return wait_repeated(storage.events, Slot(job.day, job.time), job.week_id)
            return run_wait_repeated(storage.events, job.week_id, _COMMANDS[job.kind], since)

    return repeated


def _queued_or_unknown(app: Container, week_id: date) -> dict[str, list[str]]:
    """`_queued_for_the_open`, or {} when a broker (or the database) did not answer it. The look runs outside any run:
    its failure ended the wake-up 75 with no event at all (benchmarks/fault_soak.py, Alpaca's 503 on its order list).
    It only spares a wait's mail; the weekly run then meets the broker itself, in a recorded run (RunFailed, a wait),
    and its own gate (workflows/week_gate.py) still holds it for orders queued."""
    try:
        return _queued_for_the_open(app, week_id)
    except Exception as exc:
        if not temporary(exc):
            raise
        return {}


def _queued_for_the_open(app: Container, week_id: date) -> dict[str, list[str]]:
    """llmtrade's orders its brokers hold unfilled while the market is closed, by account (the quick start's, placed
    on a Tuesday evening, queue for Wednesday's open): a weekly run before the open would plan against positions they
    are about to change, and stops when every account that trades has some (workflows/week_gate.py `wait_for_queued`).
    Empty when one of them has none: the run then trades the others and holds those alone (an order whose cancel is
    stuck at Alpaca never fills at the open, and held every account's week until the open). In session none should be
    left: the run's own exit 75 says which, as any temporary failure's."""
    if app.calendar.is_open(app.clock.now()):
        return {}
    app = in_week_mode(app, week_id, warn=False)
    with app.storage(persist=False) as storage:
        # The week's own orders, sent by a run stopped before it finished, are its to recover, not in its way.
        plans = storage.events.read(week_id=week_id, type=OrdersPlanned.event_type())
        own = {o.client_order_id for e in plans for o in storage.events.payload(OrdersPlanned, e).orders}
        market = app.market(storage, record=False)
        desks = app.desks(storage, market)
        queued = {desk.account.id: [o for o in queued_order_ids(desk) if o not in own] for desk in desks}
        held = {account: ids for account, ids in queued.items() if ids}  # by account: the message names each
        trading = trading_accounts([desk.account for desk in desks])
        return held if trading and all(account in held for account in trading) else {}
