"""A checkpoint waiting for a price (exit 75: the next wake-up asks again) is worded as a wait, not a failure: stderr
said "error: stage 'complete' failed: checkpoint ... not judged yet" and its alert "llmtrade: checkpoint failed
(StageError)" (a new user's cron trial). The scripted week of tests/test_week_lifecycle.py, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from llmtrade.alerts.incident import Incident
from llmtrade.alerts.incidents import find_incidents
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.checkpoints import CheckpointCompleted
from llmtrade.domain.events import NewEvent, StageDeferred
from llmtrade.domain.runs import RunFailed
from llmtrade.domain.streams import checkpoint_stream, held_stream
from llmtrade.errors import StageError, TemporaryError, Waiting
from llmtrade.exits import classify
from llmtrade.pipeline.context import PipelineContext
from llmtrade.pipeline.pipeline import Pipeline
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW, stored_events
from tests.test_checkpoint_unpriced import NOON, _noon_with_a_bad_print
from tests.test_event_checkpoint import _intraday
from tests.test_week_lifecycle import CONFIG, week  # noqa: F401 (the fixture)

runner = CliRunner()


@pytest.fixture
def waiting(week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Result, str, Any]:  # noqa: F811
    """The scripted week's 12:00 checkpoint with acct_2's TLT printed badly at noon: it stops to wait (exit 75).
    Gives its CLI result, the database URL and the closes."""
    _fake, url, closes = week
    _noon_with_a_bad_print(monkeypatch, tmp_path / "csv", closes, "TLT")  # acct_2's
    result = runner.invoke(app, ["checkpoint", "12:00"])
    assert result.exit_code == 75, result.output
    return result, url, closes


def _incidents_after_noon(url: str) -> list[Incident]:
    """The incidents the store shows five minutes after the noon checkpoint."""
    now = datetime.fromisoformat(NOON) + timedelta(minutes=5)
    with open_storage(Settings(DATABASE_URL=url), FixedClock(now)) as storage:
        return find_incidents(storage.events, CONFIG, now, silence=False)


class _Waits:
    name = "research"
    reads = ()
    writes = ()
    overlaps = False

    async def run(self, context: PipelineContext) -> PipelineContext:
        raise Waiting("research: waiting for A (LLMUnavailable: down); a rerun asks them again until 09:00")


def test_a_stage_that_stops_to_wait_is_not_said_failed_in_the_progress(storage: Storage) -> None:
    # The weekly run's progress read "  research: failed in 0.04 s" above "waiting: research: waiting for A, B".
    seen: list[str] = []
    pipeline = Pipeline([_Waits()], storage.events, observer=lambda stage, state, seconds: seen.append(state))
    with pytest.raises(StageError) as caught:
        asyncio.run(pipeline.run(PipelineContext(run_id="r1")))
    assert seen[-1] == "stopped to wait", seen
    assert str(caught.value).startswith("research: waiting for A") and caught.value.exit_code == 75


def test_a_wait_inside_a_stage_is_said_as_a_wait_not_a_stage_failure() -> None:
    waited = classify(StageError("complete", Waiting("checkpoint 2026-01-07 12:00: not judged yet")))
    assert waited is not None and waited.code == 75 and waited.waiting
    assert waited.message == "checkpoint 2026-01-07 12:00: not judged yet"
    failed = classify(StageError("complete", TemporaryError("provider down")))
    assert failed is not None and failed.code == 75 and not failed.waiting
    assert failed.message == "stage 'complete' failed: provider down"


def test_a_checkpoint_waiting_for_a_price_says_it_waits_on_stderr_and_in_its_alert(
    waiting: tuple[Result, str, Any],
) -> None:
    result, url, _closes = waiting
    [line] = [line for line in result.output.splitlines() if "acct_2" in line]
    assert line.startswith("waiting: checkpoint 2026-01-07 12:00: not judged yet"), line
    assert "failed" not in line and "error" not in line
    [ended] = stored_events(url, type="RunFailed")
    assert ended.payload["exit_code"] == 75 and not ended.payload["error"].startswith("stage ")

    [incident] = [i for i in _incidents_after_noon(url) if "checkpoint" in i.key]
    assert incident.kind == "run-waiting"
    assert "StageError" not in incident.title
    assert incident.title == "llmtrade: checkpoint waits for acct_2 (not failed)"
    assert "acct_2: TLT" in incident.body
    assert "asks again until 2026-01-07T14:00:00-05:00" in incident.body
    assert "past it, a wake-up closes the checkpoint" in incident.body


def test_status_and_trace_say_a_checkpoint_waiting_for_a_price_waits(
    waiting: tuple[Result, str, Any],
) -> None:
    # `status` said "checkpoint ... failed: checkpoint 2026-01-07 12:00: not judged yet", and `trace` "failed" with
    # the wait counted among its failures, of a run that stopped to wait (exit 75) and is asked again.
    _result, url, _closes = waiting
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    [line] = [line for line in status.stdout.splitlines() if line.startswith("checkpoint\t")]
    assert "\tstopped to wait: checkpoint 2026-01-07 12:00: not judged yet" in line and "failed" not in line, line
    [ended] = stored_events(url, type="RunFailed")
    traced = runner.invoke(app, ["trace", ended.run_id])
    assert traced.exit_code == 0, traced.output
    heading = traced.stdout.splitlines()[0]
    assert "): stopped to wait, " in heading and "failed" not in heading, heading
    assert "failures: 0" in traced.stdout and "\twait\tStageDeferred\t" in traced.stdout, traced.stdout
    assert "\tfailure\t" not in traced.stdout, traced.stdout


def test_the_leaderboards_note_and_the_reports_runs_say_a_wait_not_a_failure(
    waiting: tuple[Result, str, Any],
) -> None:
    # The leaderboard's note read "1 of 2 trading runs failed and no rerun finished them (the last: checkpoint of
    # ..., StageError: checkpoint 2026-01-07 12:00: not judged yet ...)" of a checkpoint waiting for a price.
    board = runner.invoke(app, ["leaderboard"])
    assert board.exit_code == 0, board.output
    [note] = [line for line in board.stdout.splitlines() if line.startswith("note: ") and "runs" in line]
    assert "failed" not in note and "StageError" not in note, note
    assert "1 of 2 trading runs stopped to wait and no rerun finished them yet" in note, note
    page = runner.invoke(app, ["report", "-o", "-"])
    assert page.exit_code == 0, page.output
    assert "checkpoint of 2026-01-07T12:00:00-05:00 stopped to wait" in page.stdout


def test_the_alert_of_a_wait_over_by_the_time_it_is_built_says_so(
    waiting: tuple[Result, str, Any],
    tmp_path: Path,
) -> None:
    # An alert owed while its service was down is built later: "the next wake-up asks again" of a checkpoint that a
    # rerun has finished since would be wrong, as the RunKilled alert's "the next wake-up resumes its job" was.
    _result, url, closes = waiting
    _intraday(tmp_path / "csv", "TLT", closes["TLT"], [])  # the provider prices TLT again
    assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code == 0
    [incident] = [i for i in _incidents_after_noon(url) if i.kind == "run-waiting"]
    assert "The next wake-up asks again" not in incident.body
    assert "Since then the wait is over: CheckpointCompleted recorded at 2026-01-07T12:00:00-05:00" in incident.body


def test_the_alert_of_a_wait_whose_checkpoint_was_closed_since_says_it_was_closed(storage: Storage) -> None:
    week_id, day = datetime(2026, 1, 7).date(), datetime(2026, 1, 7).date()
    marker = checkpoint_stream(week_id, day, "06:00")
    at = EventStore(storage.conn, FixedClock(FIXED_NOW - timedelta(hours=3)))
    deferred = StageDeferred(stage="prepare", waiting=["acct_2"], errors=["acct_2: TLT: no price"], deadline=FIXED_NOW)
    at.append([NewEvent.of(deferred, stream=held_stream(marker), run_id="c1", week_id=week_id)])
    failed = RunFailed(command="checkpoint", error_type="StageError", error="waits", duration_ms=1, exit_code=75)
    at.append([NewEvent.of(failed, stream="run:c1", run_id="c1", week_id=week_id)])
    closed = CheckpointCompleted(week_id=week_id, day=day, time="06:00", run_id="c1")  # the closing takes c1's id
    later = EventStore(storage.conn, FixedClock(FIXED_NOW - timedelta(hours=1)))
    later.append([NewEvent.of(closed, stream=marker, run_id="c1", week_id=week_id)])
    [incident] = [
        i for i in find_incidents(storage.events, CONFIG, FIXED_NOW, silence=False) if i.kind == "run-waiting"
    ]
    assert "Since then the checkpoint was closed past its deadline at 2026-01-07T07:00:00-05:00" in incident.body
    assert "asks again" not in incident.body


def test_the_metrics_say_a_checkpoint_waiting_for_a_price_waits(
    waiting: tuple[Result, str, Any],
) -> None:
    # `llmtrade_last_run_status` and `llmtrade_runs_total` labelled the wait status="failed": an alert on failures
    # paged at every checkpoint whose price was a minute late.
    printed = runner.invoke(app, ["metrics"])
    assert printed.exit_code == 0, printed.output
    lines = set(printed.stdout.splitlines())
    assert 'llmtrade_last_run_status{job="checkpoint",status="waiting"} 1.0' in lines, printed.stdout
    assert 'llmtrade_last_run_status{job="checkpoint",status="failed"} 0.0' in lines
    assert 'llmtrade_runs_total{job="checkpoint",status="waiting"} 1.0' in lines
    assert not any(line.startswith('llmtrade_runs_total{job="checkpoint",status="failed"}') for line in lines)


def test_the_metrics_count_a_stage_that_stopped_to_wait_as_a_wait_not_a_stage_failure(
    waiting: tuple[Result, str, Any],
) -> None:
    # `llmtrade_stage_failures_total{stage="complete"}` grew by one at every checkpoint waiting for a price.
    printed = runner.invoke(app, ["metrics"])
    assert printed.exit_code == 0, printed.output
    lines = printed.stdout.splitlines()
    assert not [line for line in lines if line.startswith("llmtrade_stage_failures_total{")], printed.stdout
    assert 'llmtrade_stage_waits_total{stage="complete"} 1.0' in lines, printed.stdout


def test_the_log_line_of_a_run_that_stopped_to_wait_is_a_warning_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    # The JSON log (--log-json, journald) said "level": "error" of a checkpoint waiting for a price: an alert on error
    # lines paged as for a failure. An exit 75 without a StageDeferred of its own (a provider down) stays an error.
    from datetime import UTC

    from llmtrade.domain.events import StoredEvent
    from llmtrade.domain.tracing import EVENTS_LOGGER, log_appended

    at = datetime(2026, 1, 7, 17, 5, tzinfo=UTC)

    def stored(n: int, payload: Any, run_id: str) -> StoredEvent:
        new = NewEvent.of(payload, stream=f"run-{run_id}", run_id=run_id)
        return StoredEvent(**new.model_dump(), id=n, version=n, occurred_at=at)

    def ended(run_id: str, n: int) -> StoredEvent:
        failed = RunFailed(command="checkpoint", error_type="StageError", error="x", duration_ms=1.0, exit_code=75)
        return stored(n, failed, run_id)

    caplog.set_level(logging.INFO, logger=EVENTS_LOGGER)
    log_appended([stored(1, StageDeferred(stage="complete", waiting=["acct_2"], errors=["acct_2: TLT"], deadline=None),
                         "r1")])  # fmt: skip
    log_appended([ended("r1", 2)])
    log_appended([ended("r2", 3)])
    levels = {(r.getMessage(), r.__dict__["fields"]["run_id"]): r.levelname for r in caplog.records}
    assert levels[("RunFailed", "r1")] == "WARNING", levels
    assert levels[("RunFailed", "r2")] == "ERROR"
