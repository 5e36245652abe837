"""`llmtrade trace` of a run that recorded no end says what is known of it (when it was last alive, at which event and
in which stage) and plainly what is not: its heading read "run R (checkpoint, live): killed, ?" (a new user's cron
trial), an unknown shown as "?"."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.events import EventPayload, NewEvent, StageCompleted, StageStarted
from llmtrade.domain.runs import RunKilled, RunStarted
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW

runner = CliRunner()
RUN = "20260107T130000Z-abc123"


def _at(storage: Storage, seconds: float, payload: EventPayload, run_id: str = RUN) -> None:
    events = EventStore(storage.conn, FixedClock(FIXED_NOW + timedelta(seconds=seconds)))
    events.append([NewEvent.of(payload, stream=f"run:{run_id}", run_id=run_id)])


def _started(storage: Storage, run_id: str = RUN) -> None:
    start = RunStarted(
        command="checkpoint", arguments={}, mode="live", mode_reason="test", config_source="defaults", version="t"
    )
    _at(storage, 0, start, run_id)
    _at(storage, 1, StageStarted(stage="prepare"), run_id)
    _at(storage, 3, StageCompleted(stage="prepare", duration_ms=2000), run_id)
    _at(storage, 4, StageStarted(stage="decide"), run_id)


def test_trace_of_a_killed_run_says_when_it_was_last_alive_not_a_question_mark(
    storage: Storage, cli_env: dict[str, Any]
) -> None:
    _started(storage)
    killed = RunKilled(
        command="checkpoint",
        found_by="run-due",
        last_event_type="StageStarted",
        last_event_at=FIXED_NOW + timedelta(seconds=4),
    )
    _at(storage, 3600, killed)
    result = runner.invoke(app, ["trace", RUN])
    assert result.exit_code == 0, result.output
    heading = result.stdout.splitlines()[0]
    assert "?" not in heading, heading
    assert "killed" in heading and "last alive at 2026-01-07T08:00:04-05:00" in heading
    assert "StageStarted, 4.0 s after its start, in stage decide" in heading
    assert "when it stopped is not known" in heading
    shown = json.loads(runner.invoke(app, ["trace", RUN, "--json"]).stdout)
    assert shown["last_alive_at"] == "2026-01-07T13:00:04Z" and shown["duration_ms"] is None


def test_trace_of_a_run_with_no_end_yet_says_it_may_still_be_running(storage: Storage, cli_env: dict[str, Any]) -> None:
    _started(storage)
    result = runner.invoke(app, ["trace", RUN])
    assert result.exit_code == 0, result.output
    heading = result.stdout.splitlines()[0]
    assert "?" not in heading, heading
    assert "no end recorded (still running, or killed and not yet found)" in heading
    assert "last event at 2026-01-07T08:00:04-05:00" in heading
