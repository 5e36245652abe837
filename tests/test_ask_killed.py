"""`llmtrade ask --offline` says a killed run plainly: "what failed last week?" listed the 50 newest matching events,
so a week whose provider outage left 60 failed calls after a killed weekly run cut its RunKilled off the list, and
when listed it was one bare "#id time RunKilled run:R R" line among them, without what it means (a new user's cron
trial). The live model's `runs` tool said a killed run had no end (it read RunFinished and RunFailed alone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.domain.runs import RunKilled, RunStarted
from llmtrade.storage.ask_queries import ReadOnlyEvents, RunsArgs
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore

THURSDAY = datetime(2026, 1, 8, 15, 0, tzinfo=UTC)  # 10:00 New York
RUN = "20260108T150000Z-abc123"


def _append(storage: Storage, at: datetime, payload: EventPayload | NewEvent, run_id: str | None = RUN) -> None:
    events = EventStore(storage.conn, FixedClock(at))
    if isinstance(payload, NewEvent):
        events.append([payload])
    else:
        events.append([NewEvent.of(payload, stream=f"run:{run_id}", run_id=run_id, week_id=THURSDAY.date())])


def _a_killed_run_then_an_outage(storage: Storage) -> None:
    start = RunStarted(
        command="run-weekly", arguments={}, mode="live", mode_reason="test", config_source="defaults", version="t"
    )
    _append(storage, THURSDAY, start)
    killed = RunKilled(command="run-weekly", found_by="run-due", last_event_type="StageStarted", last_event_at=THURSDAY)
    _append(storage, THURSDAY + timedelta(minutes=5), killed)
    for n in range(60):
        failed = NewEvent(type="LLMCallFailed", stream="llm:other", run_id="other", payload={"role": f"pm_{n}"})
        _append(storage, THURSDAY + timedelta(minutes=10 + n), failed)


def test_offline_ask_says_a_killed_run_first_and_never_cuts_it_off(
    storage: Storage, cli_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _a_killed_run_then_an_outage(storage)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T10:00:00-05:00")  # the Wednesday after
    result = CliRunner().invoke(app, ["ask", "what failed last week?", "--offline"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    killed = [line for line in lines if RUN in line and "killed" in line]
    assert killed, result.stdout
    assert lines.index(killed[0]) <= 1, result.stdout  # said before the list, not among 50 other lines
    assert "run-weekly" in killed[0] and "recorded no end" in killed[0] and "StageStarted" in killed[0]
    assert any(line.startswith("#") and "RunKilled" in line for line in lines)  # and listed too


def test_the_live_tools_say_how_a_killed_run_ended(storage: Storage, database_url: str) -> None:
    _a_killed_run_then_an_outage(storage)
    tools = ReadOnlyEvents(database_url)
    try:
        [run] = [r for r in tools.runs(RunsArgs()) if r["started"]["run_id"] == RUN]
    finally:
        tools.close()
    assert run["ended"] is not None and run["ended"]["type"] == "RunKilled"
