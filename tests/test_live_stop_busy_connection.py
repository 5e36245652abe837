"""A stop (Ctrl-C, or cron's and systemd's SIGTERM) landing between a statement psycopg sent on a live run's
connection and its answer leaves the connection busy ("another command is already in progress"): the run's RunFailed
could not be stored on it, `status` showed the run as still running until the next run recorded it for it, and the
stop said nothing of that. Seen in a cron trial, once in four SIGTERMs. A backtest writes its end on a connection of
its own in that case (tests/test_runs_end_when_stopped.py); a live run now does too."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.app import jobs, runs
from llmtrade.cli import app
from tests.support import stored_events

runner = CliRunner()
POSTMORTEM = "2026-01-13T16:30:00-05:00"  # FIXED_NOW's week's postmortem (Tuesday 16:30 New York)


def _busy_then_stopped(conn: psycopg.Connection[Any], *args: Any) -> None:
    conn.pgconn.send_query(b"SELECT 1")  # sent, its answer never read: as psycopg is left by a stop there
    raise KeyboardInterrupt


def test_a_stop_that_leaves_a_live_runs_connection_busy_still_stores_its_end(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    monkeypatch.setattr(jobs, "project_week_summaries", _busy_then_stopped)
    monkeypatch.setenv("LLMTRADE_NOW", POSTMORTEM)
    stopped = runner.invoke(app, ["-q", "postmortem"])
    assert stopped.exit_code == 130, stopped.output

    [start] = [e for e in stored_events(wednesday_week, type="RunStarted") if e.payload["command"] == "postmortem"]
    ends = [e for e in stored_events(wednesday_week, run_id=start.run_id) if e.type in ("RunFailed", "RunFinished")]
    assert [(e.type, e.payload["exit_code"]) for e in ends] == [("RunFailed", 130)]  # stored by the run itself
    assert ends[0].payload["error_type"] == "KeyboardInterrupt"
    assert "could not be stored" not in stopped.output


def test_a_second_stop_inside_that_write_leaves_the_end_for_the_next_run(
    wednesday_week: str, clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second Ctrl-C while the end is written apart: the end is not lost, it is kept in the home for the next run to
    record (app/unrecorded_ends.py), as an end the books refused always was."""
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0

    class Stopped:
        def append(self, *args: Any, **kwargs: Any) -> None:
            raise KeyboardInterrupt

    @contextmanager
    def apart(*args: Any) -> Iterator[Stopped]:
        yield Stopped()

    monkeypatch.setattr(jobs, "project_week_summaries", _busy_then_stopped)
    monkeypatch.setattr(runs, "events_apart", apart)
    monkeypatch.setenv("LLMTRADE_NOW", POSTMORTEM)
    assert runner.invoke(app, ["-q", "postmortem"]).exit_code == 130
    [start] = [e for e in stored_events(wednesday_week, type="RunStarted") if e.payload["command"] == "postmortem"]
    assert not [e for e in stored_events(wednesday_week, run_id=start.run_id) if e.type == "RunFailed"]
    kept = list((clean_environment / "runs" / "unrecorded").glob("*.json"))
    assert [path.stem for path in kept] == [start.run_id]
