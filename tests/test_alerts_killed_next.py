"""The RunKilled alert says what becomes of the killed run's job as the events show it when the alert is built: a
weekly run resumed (or finished) since, a checkpoint closed past its deadline (nothing resumes it), a job nothing has
resumed yet, a command no wake-up resumes. It said "The next wake-up resumes its job from its last stored stage" of
every killed run (a new user's cron trial: a killed checkpoint closed past its deadline, and a weekly run already
resumed, were both said to be resumed by the next wake-up)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from llmtrade.alerts.incidents import find_incidents
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.checkpoints import CheckpointCompleted
from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.domain.runs import RunFinished, RunKilled, RunStarted, WeekCompleted
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW

CONFIG = load_config(None).config
WEEK = date(2026, 1, 7)
DAY = date(2026, 1, 7)


def _at(storage: Storage, hours_before: float) -> EventStore:
    return EventStore(storage.conn, FixedClock(FIXED_NOW - timedelta(hours=hours_before)))


def _append(events: EventStore, payload: EventPayload, stream: str, **ids: Any) -> None:
    events.append([NewEvent.of(payload, stream=stream, **ids)])


def _started(storage: Storage, hours_before: float, run_id: str, command: str, arguments: dict) -> None:
    start = RunStarted(
        command=command, arguments=arguments, mode="offline", mode_reason="test", config_source="defaults", version="t"
    )
    _append(_at(storage, hours_before), start, f"run:{run_id}", run_id=run_id, week_id=WEEK)


def _killed(storage: Storage, hours_before: float, run_id: str, command: str) -> None:
    killed = RunKilled(
        command=command,
        found_by="run-due",
        last_event_type="StageStarted",
        last_event_at=FIXED_NOW - timedelta(hours=hours_before + 1),
    )
    _append(_at(storage, hours_before), killed, f"run:{run_id}", run_id=run_id, week_id=WEEK)


def _finish(command: str) -> RunFinished:
    return RunFinished(
        command=command, degraded=False, llm_calls=0, prompt_tokens=0, completion_tokens=0, cost_usd=0, duration_ms=1
    )


def _body(storage: Storage) -> str:
    [incident] = [i for i in find_incidents(storage.events, CONFIG, FIXED_NOW, silence=False) if i.kind == "run-killed"]
    return incident.body


def test_a_killed_weekly_run_resumed_and_finished_since_is_said_so(storage: Storage) -> None:
    _started(storage, 5, "w1", "run-weekly", {"week": str(WEEK)})
    _killed(storage, 3, "w1", "run-weekly")
    _started(storage, 2.9, "w2", "run-weekly", {"week": str(WEEK)})
    _append(_at(storage, 2.5), WeekCompleted(run_id="w2", degraded=False, notes=[]), "week", run_id="w2", week_id=WEEK)
    _append(_at(storage, 2.5), _finish("run-weekly"), "run:w2", run_id="w2", week_id=WEEK)
    body = _body(storage)
    assert "next wake-up resumes" not in body
    assert "w2" in body and "finished" in body


def test_a_killed_weekly_run_resumed_and_still_going_is_said_so(storage: Storage) -> None:
    _started(storage, 5, "w1", "run-weekly", {"week": str(WEEK)})
    _killed(storage, 3, "w1", "run-weekly")
    _started(storage, 0.5, "w2", "run-weekly", {"week": str(WEEK)})
    body = _body(storage)
    assert "next wake-up resumes" not in body
    assert "run w2 resumed its job" in body


def test_a_killed_checkpoint_closed_past_its_deadline_is_resumed_by_nothing(storage: Storage) -> None:
    _started(storage, 3, "c1", "checkpoint", {"time": "06:00", "week": str(WEEK)})  # 06:00 New York is 3 h before
    _killed(storage, 1, "c1", "checkpoint")
    closed = CheckpointCompleted(week_id=WEEK, day=DAY, time="06:00", run_id="c1")
    _append(_at(storage, 1), closed, "checkpoint-marker", run_id="c1", week_id=WEEK)
    body = _body(storage)
    assert "next wake-up resumes" not in body
    assert "closed" in body and "past its deadline" in body and "nothing resumes it" in body


def test_a_killed_checkpoint_closed_after_a_later_run_waited_is_not_said_finished_by_that_run(storage: Storage) -> None:
    _started(storage, 3, "c1", "checkpoint", {"time": "06:00", "week": str(WEEK)})
    _killed(storage, 1.5, "c1", "checkpoint")
    _started(storage, 1.4, "c2", "checkpoint", {"time": "06:00", "week": str(WEEK)})  # it waited (exit 75)
    closed = CheckpointCompleted(week_id=WEEK, day=DAY, time="06:00", run_id="c2")  # the closing took its id
    _append(_at(storage, 1), closed, "checkpoint-marker", run_id="c2", week_id=WEEK)
    body = _body(storage)
    assert "Run c2 finished" not in body and "past its deadline: nothing resumes it" in body


def test_a_killed_checkpoint_nothing_has_resumed_yet_is_resumed_until_its_deadline(storage: Storage) -> None:
    _started(storage, 3, "c1", "checkpoint", {"time": "06:00", "week": str(WEEK)})
    _killed(storage, 1, "c1", "checkpoint")
    body = _body(storage)
    assert "The next wake-up resumes its checkpoint from its last stored stage until the checkpoint's deadline" in body


def test_a_killed_command_no_wake_up_runs_is_not_said_to_be_resumed(storage: Storage) -> None:
    _started(storage, 3, "q1", "council", {"query": "what now?", "offline": True, "replay": False})
    _killed(storage, 1, "q1", "council")
    body = _body(storage)
    assert "next wake-up resumes" not in body and "no wake-up resumes it" in body
