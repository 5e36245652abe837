"""The latest run of each command and how it ended, as `status` shows them (app/queries.py `status`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from llmtrade.app.marked_books import redid_nothing
from llmtrade.app.results import LastRun
from llmtrade.domain.events import StageDeferred, StoredEvent
from llmtrade.domain.runs import UNENDED, RunFailed, RunFinished, RunKilled, RunStarted
from llmtrade.domain.waits import stopped_to_wait
from llmtrade.storage.event_store import EventStore


def last_runs(
    events: EventStore,
    lease_held: Callable[[int], bool] | None = None,
    left_end: Callable[[str], RunFailed | None] | None = None,
) -> dict[str, LastRun]:
    """The latest run of each command that did something (a read of a stored week again is none) and how it ended;
    `lease_held` (app/killed_runs.py): a run with no end is "running" while its lease is held and "killed" once none
    is (the next job records it), where it can be asked; `left_end` (app/unrecorded_ends.py): the end such a run left
    in the home, its database lost, which the next run records as its RunFailed: "failed", not "killed"."""
    started = {e.run_id: e for e in events.read(type=RunStarted.event_type())}
    ended: dict[str | None, StoredEvent] = {}
    for e in events.read(type=[RunFinished.event_type(), RunFailed.event_type(), RunKilled.event_type()]):
        ended.setdefault(e.run_id, e)  # the run's own end; a RunKilled is recorded only where there is none
    deferred = {e.run_id for e in events.read(type=StageDeferred.event_type())}
    last: dict[str, LastRun] = {}
    # Newest first, so a command's latest run that did work is found after the reads of its stored week that follow
    # it (`postmortem --week D` read again on a Monday showed as the postmortem's last run, as if it had run late).
    for run_id, event in reversed(started.items()):
        command = event.payload["command"]
        if command in last:
            continue
        end = ended.get(run_id)
        if end is not None and redid_nothing(events, end):
            continue
        outcome, error = _ending(end)
        if outcome == "failed" and end is not None and waited(end, run_id in deferred):
            # Its wait, no failure (status said "failed: ... not judged yet"); said as a fact, not as "waiting": the
            # wait may be over since (a checkpoint closed past its deadline starts no run of its own).
            outcome = "stopped to wait"
        lease = event.payload.get("lease")
        if end is None and lease is not None and lease_held is not None:
            outcome, error = ("running", None) if lease_held(int(lease)) else ("killed", _UNRECORDED)
            failed = left_end(run_id or "") if outcome == "killed" and left_end is not None else None
            if failed is not None:  # it said its failure and exit code, and could not store them: no kill
                outcome, error = "failed", f"{failed.error} (exit {failed.exit_code}; {_LEFT})"
        last[command] = LastRun(
            run_id=run_id or "",
            at=event.occurred_at.isoformat(),
            mode=event.payload["mode"],
            outcome=outcome,
            degraded=bool(end and end.payload.get("degraded")),
            error=error,
        )
    return last


_UNRECORDED = UNENDED + ", and no process holds its lease (the next job records it as RunKilled)"
_LEFT = "its database lost, it left this end in the home: not recorded yet, the next run records it"
Outcome = Literal["finished", "failed", "stopped to wait", "killed", "running", "running or killed"]


def waited(end: StoredEvent, deferred: bool) -> bool:
    """A run's RunFailed is a wait, not a failure: exit 75 after a StageDeferred of its own (a checkpoint waiting for a
    price or an owner, a stage for its roles); the next wake-up asks again until the deadline (domain/waits.py, the
    rule the log levels read too)."""
    return stopped_to_wait(end.type, end.payload.get("exit_code"), deferred)


def _ending(end: StoredEvent | None) -> tuple[Outcome, str | None]:
    if end is None:
        return "running or killed", None
    if end.type == RunFailed.event_type():
        return "failed", end.payload.get("error")
    if end.type == RunKilled.event_type():
        return "killed", RunKilled.from_event(end).note(end.occurred_at)
    return "finished", None
