"""What becomes of a killed run's job, as the events say it when the RunKilled alert is built.

The alert said "The next wake-up resumes its job from its last stored stage" of every killed run. That was wrong for a
weekly run resumed since (by the time the alert went out, the job had gone on, or finished), for a checkpoint closed
past its deadline (run-due closes it under the killed run's id, app/checkpoint_deadlines.py: nothing resumes it), and
for a command no wake-up runs (council, research, ask). Only the three scheduled jobs are resumed, and only while due.
"""

from __future__ import annotations

from datetime import date

from llmtrade.domain.checkpoints import CheckpointCompleted, PostmortemCompleted, checkpoint_key
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.runs import RunFailed, RunFinished, RunKilled, RunStarted, WeekCompleted, WeekNotRun
from llmtrade.domain.streams import run_stream
from llmtrade.domain.wording import market_time
from llmtrade.market.calendar import new_york_date
from llmtrade.storage.event_store import EventStore

_ENDS = (RunFinished.event_type(), RunFailed.event_type(), RunKilled.event_type())


def after_killed(events: EventStore, killed: StoredEvent) -> str:
    """One or two sentences: what happened to the killed run's job since, or what will."""
    run_id = killed.run_id or ""
    start = next((e for e in events.read_stream(run_stream(run_id)) if e.type == RunStarted.event_type()), None)
    command = RunKilled.from_event(killed).command
    if start is None or killed.week_id is None or command not in ("run-weekly", "checkpoint", "postmortem"):
        if command == "discover":
            return (
                "Nothing resumes this run: a discovery keeps nothing of a run cut short; a wake-up before a weekly run "
                "that is due runs discovery anew, and `llmtrade discover` does by hand."
            )
        return f"It is no scheduled job: no wake-up resumes it; `llmtrade {command}` run again starts it anew."
    done = _done(events, killed.week_id, command, start)
    if done is not None:
        by, at = done
        if not finished(events, by):  # a checkpoint's closing, under the id of its last run (or none)
            return (
                f"A run-due wake-up closed its checkpoint at {market_time(at.occurred_at)}, past its deadline: "
                "nothing resumes it; the accounts it had not finished are recorded as not judged, and the next "
                "scheduled checkpoint judges them."
            )
        return f"Run {by} finished its job at {market_time(at.occurred_at)}."
    if command == "run-weekly" and (skipped := events.read(week_id=killed.week_id, type=WeekNotRun.event_type())):
        return (
            f"Nothing resumes it: at {market_time(skipped[-1].occurred_at)} the week was recorded as not run "
            f"({WeekNotRun.from_event(skipped[-1]).reason})."
        )
    later = _later_runs(events, killed.week_id, command, start)
    if not later:
        return f"Nothing has resumed it yet. {_pending(command)}"
    resumed, open_still = _resumed(events, later[-1])
    return f"Since then {resumed}." + (f" {_pending(command)}" if open_still else "")


def _done(events: EventStore, week_id: date, command: str, start: StoredEvent) -> tuple[str, StoredEvent] | None:
    """The run that completed the job since (its id) and its completion event; None when none did."""
    if command == "run-weekly":
        found = events.read(week_id=week_id, type=WeekCompleted.event_type())
        return (WeekCompleted.from_event(found[-1]).run_id, found[-1]) if found else None
    if command == "postmortem":
        found = events.read(week_id=week_id, type=PostmortemCompleted.event_type())
        return (PostmortemCompleted.from_event(found[-1]).run_id, found[-1]) if found else None
    key = _checkpoint_key(RunStarted.from_event(start), start)
    for event in events.read(week_id=week_id, type=CheckpointCompleted.event_type()):
        completed = CheckpointCompleted.from_event(event)
        if completed.key == key:
            return completed.run_id, event
    return None


def finished(events: EventStore, run_id: str) -> bool:
    """The run recorded its end as finished: a completion written with it, not a closing."""
    return any(e.type == RunFinished.event_type() for e in events.read_stream(run_stream(run_id)))


def _checkpoint_key(run: RunStarted, start: StoredEvent) -> str:
    """The job key of a checkpoint run: an event checkpoint's arguments name it; a scheduled one's is its time on the
    New York day it started (it judges the day it runs on)."""
    day = new_york_date(start.occurred_at)
    return run.arguments.get("event") or checkpoint_key(day, str(run.arguments.get("time")))


def _later_runs(events: EventStore, week_id: date, command: str, start: StoredEvent) -> list[StoredEvent]:
    """The RunStarted of each later run of the same job: the same command for the same week (a checkpoint's day and
    time too), a dry run apart (it stores nothing)."""
    key = _checkpoint_key(RunStarted.from_event(start), start) if command == "checkpoint" else None
    found = []
    for event in events.read(week_id=week_id, type=RunStarted.event_type(), after_id=start.id):
        other = RunStarted.from_event(event)
        if other.command != command or other.arguments.get("dry_run"):
            continue
        if key is None or _checkpoint_key(other, event) == key:
            found.append(event)
    return found


def _resumed(events: EventStore, start: StoredEvent) -> tuple[str, bool]:
    """How the run that resumed the job ended, if it has; whether it ended without finishing (failed, or killed)."""
    at = market_time(start.occurred_at)
    ends = [e for e in events.read_stream(run_stream(start.run_id or "")) if e.type in _ENDS]
    if not ends:
        return f"run {start.run_id} resumed its job at {at}, and has recorded no end yet", False
    end = ends[-1]
    if end.type == RunFailed.event_type():
        failed = RunFailed.from_event(end)
        return f"run {start.run_id} resumed its job at {at} and failed ({failed.error_type}: {failed.error})", True
    if end.type == RunKilled.event_type():
        return f"run {start.run_id} resumed its job at {at} and recorded no end either", True
    return f"run {start.run_id} resumed its job at {at} and finished", False


def _pending(command: str) -> str:
    """What the wake-ups do with the job, still open."""
    if command == "checkpoint":
        return (
            "The next wake-up resumes its checkpoint from its last stored stage until the checkpoint's deadline; past "
            "it, a wake-up closes the checkpoint, recording the accounts it had not finished as not judged."
        )
    return "The next wake-up resumes its job from its last stored stage while it is due."
