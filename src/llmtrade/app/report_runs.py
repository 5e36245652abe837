"""The week's runs as the report shows them: each run's start and how it ended, read from its run events.

A cron user reads the weekly report to learn what happened, and a run that failed, went on without a role, or was
killed before it recorded an end is the first thing to know: each is a line with its RunStarted id and the id of
its end. Pure over StoredEvents, as `report_weeks` is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from llmtrade.app.report_records import RunLine
from llmtrade.domain.events import EventPayload, InputsMissing, StageCompleted, StageDeferred, StoredEvent
from llmtrade.domain.runs import RunFailed, RunFinished, RunKilled, RunStarted
from llmtrade.domain.waits import stopped_to_wait
from llmtrade.domain.wording import market_time

READ: tuple[type[EventPayload], ...] = (
    RunStarted,
    RunFinished,
    RunFailed,
    RunKilled,
    InputsMissing,
    StageDeferred,
    StageCompleted,
)
# A finished run whose every stage loaded its stored output (`postmortem --week D` of a week done, a checkpoint run
# again): it did nothing, and was counted as one more postmortem "finished" beside the one that ran.
NOTHING_REDONE = "nothing redone: every stage was already done and loaded from the stored week"
NO_END = "no end recorded"
KILLED = "killed"  # no end recorded, and a later run found its process gone (app/killed_runs.py)
# Exit 75 after a StageDeferred of its own: it stopped to wait (a price, an owner's or a role's provider), no failure.
WAITED = "stopped to wait"


def shown(outcome: str) -> str:
    """An outcome as the report's page labels it. KILLED (the RunKilled's name, kept in --json as `status` keeps it)
    reads "no end": the run may have lost its database instead, as its detail says (domain/runs.py UNENDED), and
    "killed" above that detail said more than is known."""
    return "no end" if outcome == KILLED else outcome


def run_lines(events: Sequence[StoredEvent]) -> tuple[RunLine, ...]:
    """Each run started among `events`, oldest first, with its outcome and what its own events say went wrong."""
    by_run: dict[str, list[StoredEvent]] = {}
    for event in sorted(events, key=lambda e: e.id):
        if event.run_id is not None and event.type in _TYPES:
            by_run.setdefault(event.run_id, []).append(event)
    lines = [_line(run_id, own) for run_id, own in by_run.items()]
    return tuple(sorted((line for line in lines if line is not None), key=lambda line: line.event_id))


def _line(run_id: str, events: list[StoredEvent]) -> RunLine | None:
    started = next((e for e in events if e.type == RunStarted.event_type()), None)
    if started is None:  # a run's other events without its start: not a run this report can place
        return None
    start = RunStarted.from_event(started)
    end = next((e for e in events if e.type in (_FINISHED, _FAILED, _KILLED)), None)
    detail: list[str] = []
    redone = True
    if end is None:
        outcome = NO_END
    elif end.type == _KILLED:
        outcome = KILLED
        detail.append(RunKilled.from_event(end).note(end.occurred_at))
    elif end.type == _FAILED:
        failed = RunFailed.from_event(end)
        waited = stopped_to_wait(end.type, failed.exit_code, any(e.type == _DEFERRED for e in events))
        outcome = WAITED if waited else "failed"
        detail.append(failed.error if waited else f"{failed.error_type}: {failed.error}")
    else:
        outcome = "degraded" if RunFinished.from_event(end).degraded else "finished"
        stages = [StageCompleted.from_event(e) for e in events if e.type == _STAGE_DONE]
        if outcome == "finished" and stages and all(stage.loaded for stage in stages):
            redone = False
            detail.append(NOTHING_REDONE)
    for event in events:
        if event.type == InputsMissing.event_type():
            missing = InputsMissing.from_event(event)
            detail.append(f"{missing.stage} went on without {', '.join(missing.missing)}: {'; '.join(missing.errors)}")
        elif event.type == StageDeferred.event_type():
            deferred = StageDeferred.from_event(event)
            detail.append(
                f"{deferred.stage} stopped to wait for {', '.join(deferred.waiting)} (a rerun asks again): "
                f"{'; '.join(deferred.errors)}"
            )
    return RunLine(
        event_id=started.id,
        run_id=run_id,
        command=start.command,
        arguments=start.arguments,
        started_at=market_time(started.occurred_at),
        mode=start.mode,
        outcome=outcome,
        end_event_id=end.id if end is not None else None,
        detail=tuple(detail),
        redone=redone,
    )


_TYPES = frozenset(t.event_type() for t in READ)
_FINISHED = RunFinished.event_type()
_FAILED = RunFailed.event_type()
_KILLED = RunKilled.event_type()
_STAGE_DONE = StageCompleted.event_type()
_DEFERRED = StageDeferred.event_type()


def unresolved(lines: Sequence[RunLine]) -> list[RunLine]:
    """The runs that failed or recorded no end and that no later run of the same job (command and arguments: the
    week, the checkpoint's time; a checkpoint's day too) finished: what the books still lack. A killed weekly run that
    the next run-due resumed is resolved; a 14:00 checkpoint that failed is not resolved by the 15:50 one, nor
    Thursday's 12:30 by Friday's."""
    done: dict[str, int] = {}
    for line in lines:
        if line.outcome in ("finished", "degraded"):
            done[_job(line)] = line.event_id
    return [
        line
        for line in lines
        if line.outcome in ("failed", WAITED, KILLED, NO_END) and done.get(_job(line), -1) < line.event_id
    ]


def _job(line: RunLine) -> str:
    # A checkpoint's arguments name its time and week, not its day (it judges the day it runs on): without the day,
    # Friday's 12:30 checkpoint "finished" Thursday's 12:30 run that was killed and closed unjudged.
    day = f" {datetime.fromisoformat(line.started_at).date()}" if line.command == "checkpoint" else ""
    return f"{line.command} {sorted(line.arguments.items())}{day}"


def failure_note(lines: Sequence[RunLine]) -> str | None:
    """The leaderboard's note on the books' unresolved runs (`unresolved`): how many failed or recorded no end,
    the latest of each: the books hold what the other runs did, and a reader of the table alone would not know a
    week's run is missing."""
    missing = unresolved(lines)
    failed = [line for line in missing if line.outcome == "failed"]
    waited = [line for line in missing if line.outcome == WAITED]
    killed = [line for line in missing if line.outcome == KILLED]
    unended = [line for line in missing if line.outcome == NO_END]
    parts = []
    if failed:
        last = failed[-1]
        parts.append(
            f"{len(failed)} of {len(lines)} trading runs failed and no rerun finished them (the last: {last.command} "
            f"of {last.started_at}, {last.detail[0] if last.detail else 'no error recorded'})"
        )
    if waited:
        last = waited[-1]
        parts.append(
            f"{len(waited)} of {len(lines)} trading runs stopped to wait and no rerun finished them yet (the last: "
            f"{last.command} of {last.started_at}: {last.detail[0] if last.detail else 'what it waits for unrecorded'})"
        )
    if killed:
        last = killed[-1]
        parts.append(
            f"{len(killed)} recorded no end, killed or lost their database (the last: {last.command} of "
            f"{last.started_at})"
        )
    if unended:
        last = unended[-1]
        parts.append(
            f"{len(unended)} recorded no end, killed or still running (the last: {last.command} of {last.started_at})"
        )
    if not parts:
        return None
    return "; ".join(parts) + ": the books hold what the other runs did; `llmtrade report` lists each with its events"
