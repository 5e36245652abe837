"""What deserves an alert, read from the event store.

Two kinds of incident. Events are looked for among the last LOOKBACK of them (so a fresh install does
not page for last year), and further back while an alert whose last attempt failed is owed (it is sent
whatever its age, once its service answers). A breaker's
transition and a reconciliation difference are recorded once each, so each is one incident. Runs are
not: a cron job failing every five minutes is one incident, not a dozen an hour, so a failed or degraded
run, or a run the budget stopped, is keyed by its command, week and what went wrong, on the New York
date it happened (the same failure again tomorrow is told again tomorrow). A state (an account's drawdown past the
threshold, no successful weekly run for `silence_days`, the week's model cost past its budget) is one
incident per day while it lasts: its key carries the New York date.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from llmtrade.alerts.account_incidents import breakers, not_shown, overfilled, reconciliation, week_held
from llmtrade.alerts.incident import Incident
from llmtrade.alerts.job_incidents import TYPES as JOB_TYPES
from llmtrade.alerts.job_incidents import jobs_not_done
from llmtrade.alerts.killed_next import after_killed, finished
from llmtrade.alerts.run_orders import undone_orders, undone_text
from llmtrade.config.models import Config
from llmtrade.domain.account_events import AccountHalted, AccountResumed, AccountWeekHeld
from llmtrade.domain.alerts import AlertFailed, AlertGivenUp, AlertSent
from llmtrade.domain.checkpoints import AccountValued, CheckpointCompleted
from llmtrade.domain.events import BudgetRefused, StageDeferred, StoredEvent
from llmtrade.domain.reconciliation import ReconciliationDifferenceFound
from llmtrade.domain.runs import RunFailed, RunFinished, RunKilled
from llmtrade.domain.trading import OrderNotShown, OrderOverfilled
from llmtrade.domain.waits import stopped_to_wait
from llmtrade.domain.weeks import week_id_for
from llmtrade.domain.wording import market_time
from llmtrade.llm.budget import week_spent
from llmtrade.market.calendar import new_york_date
from llmtrade.storage.event_store import EventStore

if TYPE_CHECKING:
    import psycopg

LOOKBACK = timedelta(days=2)
WEEKLY = "run-weekly"


def find_incidents(
    events: EventStore,
    config: Config,
    now: datetime,
    *,
    silence: bool,
    spent: float | None = None,
    unchecked_since: datetime | None = None,
    checked_at: datetime | None = None,
) -> list[Incident]:
    """Every incident the store shows at `now`. `silence`: also look for a missing weekly run (run-due
    only). `spent`: the week's model cost when the caller knows it (None: not checked). `unchecked_since`: when the
    alert check began failing, if it has not worked since (AlertCheckFailureSaid): the incidents from LOOKBACK before
    it are looked for, as the check that last worked saw them, not only the last LOOKBACK's. `checked_at`: the latest
    completed check on record (AlertsChecked): the incidents since it are looked for, however long ago, as a check
    that failed on a database it could not reach recorded nothing to say since when."""
    since = min(now - LOOKBACK, _owed_since(events) or now)
    if unchecked_since is not None:
        since = min(since, unchecked_since - LOOKBACK)
    if checked_at is not None:
        since = min(since, checked_at)
    found: list[Incident] = []
    found += _runs(
        events, _recent(events, [RunFailed.event_type(), RunFinished.event_type(), RunKilled.event_type()], since)
    )
    found += breakers(_recent(events, [AccountHalted.event_type(), AccountResumed.event_type()], since))
    found += _budget(_recent(events, [BudgetRefused.event_type()], since))
    found += reconciliation(_recent(events, [ReconciliationDifferenceFound.event_type()], since))
    found += not_shown(_recent(events, [OrderNotShown.event_type()], since))
    found += overfilled(_recent(events, [OrderOverfilled.event_type()], since))
    # Job commands that did not do their job with no failed run to say it (a lost database outside any run, a job due
    # after its session closed, checkpoints or a week never run): recorded, and alerted by nothing before.
    found += jobs_not_done(_recent(events, JOB_TYPES, since))
    # Every hold, the older ones only counted: one that came back to an earlier one's orders is keyed apart from it.
    found += week_held(events.read(type=[AccountWeekHeld.event_type()]), since)
    today = new_york_date(now)
    found += _drawdowns(events, config.risk.alerts.drawdown_pct, today)
    if silence:
        found += _silence(events, config.risk.alerts.silence_days, now, today)
    limit = config.models.budget.per_week_usd
    if spent is not None and limit is not None and spent > limit:
        week = week_id_for(today)
        found.append(
            Incident(
                f"week-cost:{week}:{today}",
                "week-cost",
                f"llmtrade: week {week} model cost ${spent:.2f} is over its ${limit:.2f} budget",
                f"The calls recorded for week {week} cost ${spent:.4f}; models.yaml budget.per_week_usd is "
                f"${limit:.4f}. Further live calls this week are refused.",
            )
        )
    unique: dict[str, Incident] = {}
    for incident in found:
        unique.setdefault(incident.key, incident)  # the first event of an incident tells it
    return list(unique.values())


def config_unloadable(command: str, error: str, now: datetime) -> Incident:
    """The configuration could not be loaded, so `command` did not run: once a day while it stays so. Nothing else
    alerts then (the drawdown, budget and silence checks read the config), and a cron whose output goes to a log
    file told nobody: an operator's trial broke risk.yaml and heard nothing for days."""
    today = new_york_date(now)
    return Incident(
        f"config-unloadable:{today}",
        "config-unloadable",
        "llmtrade: the configuration cannot be loaded; nothing runs",
        f"{command} did not start: {error}. Every job waits until it is mended (`llmtrade config validate` says what "
        "is wrong); no weekly run, checkpoint or postmortem runs meanwhile.",
    )


def clock_behind_incident(latest: datetime, refusal: str) -> Incident:
    """A command refused for a clock behind the books (app/clock_guard.py): once per latest record (the key), sent
    by the first command refused for it. It stops every job until put right, and nothing else alerts: no run fails,
    and the silence check sees no time pass on a clock set back."""
    return Incident(
        f"clock-behind:{latest.isoformat()}",
        "clock-behind",
        "llmtrade: the clock is behind the books; nothing runs",
        refusal[0].upper() + refusal[1:] + ".",
    )


def clock_skew_incident(since: datetime, refusal: str) -> Incident:
    """A command refused for a system clock away from the database server's (app/clock_skew.py): once per skew (the
    server's time at its first refusal, the key). It stops every job until put right, and nothing else alerts."""
    return Incident(
        f"clock-skew:{since.isoformat()}",
        "clock-skew",
        "llmtrade: the system clock disagrees with the database server's; nothing runs",
        refusal[0].upper() + refusal[1:] + ".",
    )


def week_cost(conn: psycopg.Connection, config: Config, now: datetime) -> float | None:
    """The current week's model cost from its call records, when a weekly budget is set (else None)."""
    if config.models.budget.per_week_usd is None:
        return None
    return week_spent(conn, week_id_for(new_york_date(now)), config.models.prices)


def _owed_since(events: EventStore) -> datetime | None:
    """How far back to look for the events of alerts still owed: those whose last attempt failed (their stream ends in
    AlertFailed), from LOOKBACK before the first such failure; None when none is owed. An endpoint down for more than
    LOOKBACK (a weekend) lost the alerts of its first days without a word (an operator's trial: a failed run's alert
    was never sent; a Friday's breaker halt would have gone the same way). Owed alerts are sent whatever their age;
    the incidents read again for them that were sent already are skipped by their AlertSent."""
    last: dict[str, str] = {}  # stream -> the type of its last event
    first_failed: dict[str, datetime] = {}
    # A stream ending in AlertGivenUp is owed no more (alerts/dispatch.py).
    for event in events.read(type=[AlertFailed.event_type(), AlertSent.event_type(), AlertGivenUp.event_type()]):
        last[event.stream] = event.type
        if event.type == AlertFailed.event_type():
            first_failed.setdefault(event.stream, event.occurred_at)
    owed = [first_failed[stream] for stream, kind in last.items() if kind == AlertFailed.event_type()]
    return min(owed) - LOOKBACK if owed else None


def _recent(events: EventStore, types: list[str], since: datetime) -> list[StoredEvent]:
    return [e for e in events.read(type=types) if e.occurred_at >= since]


def _runs(events: EventStore, found: Iterable[StoredEvent]) -> list[Incident]:
    incidents = []
    for event in found:
        if event.type == RunKilled.event_type():
            # A run killed without warning (SIGKILL, the OOM killer, a reboot) records no failure of its own: the
            # run that finds it records RunKilled (app/killed_runs.py), once, so it is one incident, said once.
            killed = RunKilled.from_event(event)
            incidents.append(
                Incident(
                    f"run-killed:{killed.command}:{event.run_id}",
                    "run-killed",
                    f"llmtrade: {killed.command} recorded no end (killed, or lost its database)",
                    f"Run {event.run_id} of {killed.command}"
                    + (f" for week {event.week_id}" if event.week_id else "")
                    + f" {killed.note(event.occurred_at)}. {after_killed(events, event)}",
                    [event.id],
                )
            )
            continue
        if event.type == RunFailed.event_type():
            failed = RunFailed.from_event(event)
            if (waited := _waited(events, event, failed)) is not None:
                incidents.append(waited)
                continue
            incidents.append(
                Incident(
                    f"run-failed:{failed.command}:{event.week_id}:{failed.error_type}:{_day_of(event)}",
                    "run-failed",
                    f"llmtrade: {failed.command} failed ({failed.error_type})",
                    f"Run {event.run_id} of {failed.command}"
                    + (f" for week {event.week_id}" if event.week_id else "")
                    + f" failed after {failed.duration_ms / 1000:.1f} s: {failed.error_type}: {failed.error}",
                    [event.id],
                )
            )
            continue
        finished = RunFinished.from_event(event)
        if finished.degraded:
            # The orders it left undone, each with its reason: the events said them, the alert did not (run_orders.py).
            undone = undone_orders(events, event.run_id)
            incidents.append(
                Incident(
                    f"run-degraded:{finished.command}:{event.week_id}:{_day_of(event)}",
                    "run-degraded",
                    f"llmtrade: {finished.command} finished degraded"
                    + (f" ({len(undone)} order(s) did not go)" if undone else ""),
                    f"Run {event.run_id} of {finished.command}"
                    + (f" for week {event.week_id}" if event.week_id else "")
                    + " finished without some of its inputs or orders; `llmtrade status` names them."
                    + (undone_text(undone) if undone else ""),
                    [event.id],
                )
            )
    return incidents


def _waited(events: EventStore, event: StoredEvent, failed: RunFailed) -> Incident | None:
    """A run that stopped to wait (exit 75 after its StageDeferred: a price not there, an owner's or a role's provider
    not answering), told as the wait it is, what it waits for and until when; None for a run that did not. It was
    alerted as "llmtrade: checkpoint failed (StageError)" (a new user's cron trial)."""
    if event.run_id is None:
        return None
    deferrals = events.read(run_id=event.run_id, type=StageDeferred.event_type())
    if not stopped_to_wait(event.type, failed.exit_code, bool(deferrals)):
        return None
    deferred = StageDeferred.from_event(deferrals[-1])
    waiting = ", ".join(deferred.waiting)
    # The stream the wait held back (a checkpoint's marker, a stage's output), written since: the wait is over by the
    # time the alert is built (one owed while its service was down, say), and no wake-up asks again.
    held_back = deferrals[-1].stream.removesuffix(":held")
    over = events.read_stream(held_back) if held_back != deferrals[-1].stream else []
    until = f"until {market_time(deferred.deadline)}" if deferred.deadline else "at every wake-up (no deadline)"
    then = (
        "; past it, a wake-up closes the checkpoint, recording them as not judged, and the next scheduled checkpoint "
        "judges them"
        if failed.command == "checkpoint"
        else ", then the run goes on without them"
        if deferred.deadline
        else ""
    )
    return Incident(
        f"run-waiting:{deferrals[-1].stream}:{','.join(sorted(deferred.waiting))}:{_day_of(event)}",
        "run-waiting",
        f"llmtrade: {failed.command} waits for {waiting} (not failed)",
        f"Run {event.run_id} of {failed.command}"
        + (f" for week {event.week_id}" if event.week_id else "")
        + f" stopped at {market_time(event.occurred_at)} to wait, at its {deferred.stage} stage, for {waiting}: "
        f"{'; '.join(deferred.errors)}. "
        + (_over(events, over[0]) if over else f"The next wake-up asks again {until}{then}."),
        [event.id],
    )


def _over(events: EventStore, first: StoredEvent) -> str:
    """What ended a wait: the held-back stream's first event, by a run that finished, or a checkpoint's closing past its
    deadline (its marker under the id of a run that did not finish, or of none: checkpoint_close.py)."""
    at = market_time(first.occurred_at)
    if first.type == CheckpointCompleted.event_type() and not finished(events, first.run_id or ""):
        return (
            f"Since then the checkpoint was closed past its deadline at {at}, the accounts still waiting recorded as "
            "not judged."
        )
    return f"Since then the wait is over: {first.type} recorded at {at}" + (
        f" (run {first.run_id})." if first.run_id else "."
    )


def _day_of(event: StoredEvent) -> date:
    return new_york_date(event.occurred_at)


def _budget(found: Iterable[StoredEvent]) -> list[Incident]:
    first: dict[str, tuple[StoredEvent, BudgetRefused]] = {}
    for event in found:
        refused = BudgetRefused.from_event(event)
        first.setdefault(f"budget:{refused.budget}:{_day_of(event)}", (event, refused))
    incidents = []
    for key, (event, refused) in first.items():
        run_id = event.run_id
        incidents.append(
            Incident(
                key,
                "budget",
                f"llmtrade: the {refused.budget} budget stopped run {run_id}",
                f"A {refused.role} call to {refused.model} was not sent: {refused.reason}. The run stopped.",
                [event.id],
            )
        )
    return incidents


def _drawdowns(events: EventStore, threshold: float, today: date) -> list[Incident]:
    peaks: dict[str, tuple[float, StoredEvent]] = {}
    latest: dict[str, StoredEvent] = {}
    for event in events.read(type=AccountValued.event_type()):
        valued = AccountValued.from_event(event)
        if valued.account_id not in peaks or valued.equity > peaks[valued.account_id][0]:
            peaks[valued.account_id] = (valued.equity, event)
        latest[valued.account_id] = event
    incidents = []
    for account_id, event in sorted(latest.items()):
        peak, at_peak = peaks[account_id]
        valued = AccountValued.from_event(event)
        equity = valued.equity
        drawdown = 1 - equity / peak if peak > 0 else 0.0
        if drawdown >= threshold:
            incidents.append(
                Incident(
                    f"drawdown:{account_id}:{today}",
                    "drawdown",
                    f"llmtrade: {account_id} is {drawdown:.1%} below its peak",
                    f"Account {account_id} was valued at {equity:,.2f} ({valued.occasion}), "
                    f"{drawdown:.1%} below its peak of {peak:,.2f}; the alert threshold is {threshold:.0%}.",
                    [at_peak.id, event.id],
                )
            )
    return incidents


def _silence(events: EventStore, days: int, now: datetime, today: date) -> list[Incident]:
    finished = [e for e in events.read(type=RunFinished.event_type()) if e.payload.get("command") == WEEKLY]
    if finished:
        last, what = finished[-1].occurred_at, f"the last successful weekly run was {finished[-1].run_id}"
    else:
        first = events.read(limit=1)
        if not first:
            return []  # nothing has ever run: nothing has gone quiet
        last, what = first[0].occurred_at, "no weekly run has ever succeeded"
    if now - last <= timedelta(days=days):
        return []
    return [
        Incident(
            f"silence:{today}",
            "silence",
            f"llmtrade: no successful weekly run in {(now - last).days} days",
            f"As of {now.isoformat(timespec='minutes')}, {what} (at {last.isoformat(timespec='minutes')}); "
            f"run-due alerts after {days} days. Check the cron job and `llmtrade status`.",
            [finished[-1].id] if finished else [],
        )
    ]
