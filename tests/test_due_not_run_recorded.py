"""A job run-due listed due and did not begin, its session closed by then, is recorded when it happens (DueJobNotRun),
not only said on the wake-up's output: a scheduled checkpoint refused as SessionOver, and an event checkpoint reached
after the close or past its deadline. The next wake-up closed them as missed with nothing on record of why the wake-up
that found them due had not begun them (cron's log is often the only place the line went)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import llmtrade.app.due_run as due_run
import llmtrade.clock
from llmtrade.cli import app
from llmtrade.config.loader import write_defaults
from llmtrade.market.calendar import NEW_YORK
from tests.fakes.running_clock import RunningClock
from tests.support import stored_events
from tests.test_event_checkpoint_clock import _running, _through_noon
from tests.test_week_lifecycle import write_market

runner = CliRunner()


def test_a_scheduled_checkpoint_listed_before_the_close_and_reached_after_it_is_recorded_not_run(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_market(tmp_path / "csv")
    write_defaults(tmp_path / "config")  # checkpoints at 09:00, 12:00, 14:00 and 15:50
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "csv")
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(tmp_path / "csv"))
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    assert runner.invoke(app, ["run-due", "--offline", "--json"]).exit_code == 0

    clock = RunningClock(datetime(2026, 1, 7, 15, 59, 59, tzinfo=NEW_YORK))
    monkeypatch.delenv("LLMTRADE_NOW")
    monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", "0")
    monkeypatch.setattr(llmtrade.clock, "make_clock", lambda fixed: clock)
    listed = due_run.due

    def due_then_later(container: Any) -> Any:
        jobs = listed(container)
        clock.advance(timedelta(seconds=2))  # the wake-up's looks before the checkpoint take it past 16:00
        return jobs

    monkeypatch.setattr(due_run, "due", due_then_later)
    result = runner.invoke(app, ["-q", "run-due", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    [not_run] = stored_events(cli_env["DATABASE_URL"], type="DueJobNotRun")
    assert not_run.payload == {
        "job": "checkpoint:2026-01-07T15:50",
        "kind": "checkpoint",
        "reason": "the 2026-01-07 session has closed: its 15:50 checkpoint can no longer trade",
        "account_id": None,
    }
    assert str(not_run.week_id) == "2026-01-07"
    assert not_run.occurred_at >= datetime(2026, 1, 7, 16, 0, tzinfo=NEW_YORK)
    listed_events = runner.invoke(app, ["events", "--type", "DueJobNotRun", "--json"])
    assert listed_events.exit_code == 0 and "checkpoint:2026-01-07T15:50" in listed_events.stdout


def test_event_checkpoints_reached_after_the_close_are_recorded_not_run(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _through_noon(tmp_path, monkeypatch)
    schedule = tmp_path / "config" / "schedule.yaml"
    loaded = yaml.safe_load(schedule.read_text())
    loaded["retry_until"] = 60  # a fired checkpoint is retried until an hour after it fired: past the close
    schedule.write_text(yaml.safe_dump(loaded))
    _running(monkeypatch, datetime(2026, 1, 7, 15, 50, tzinfo=NEW_YORK))  # each run takes 6 minutes
    result = runner.invoke(app, ["run-due", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    ran = {r["job"] for r in json.loads(result.stdout)}
    url = cli_env["DATABASE_URL"]
    fired = {e.payload["key"]: e.payload["account_id"] for e in stored_events(url, type="EventCheckpointTriggered")}
    not_run = stored_events(url, type="DueJobNotRun")
    # Every one fired and not run is on record, with its account and why; none that ran is.
    assert {e.payload["job"] for e in not_run} == set(fired) - ran and not_run
    for event in not_run:
        assert event.payload["kind"] == "event checkpoint"
        assert event.payload["account_id"] == fired[event.payload["job"]]
        assert event.payload["reason"] == "the 2026-01-07 session closed before it began"


def test_an_event_checkpoint_whose_deadline_passed_before_it_began_is_recorded_not_run(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default deadline: the close. Fired at 15:50, the third begins at 16:02, its deadline passed.
    _through_noon(tmp_path, monkeypatch)
    _running(monkeypatch, datetime(2026, 1, 7, 15, 50, tzinfo=NEW_YORK))
    result = runner.invoke(app, ["run-due", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    ran = {r["job"] for r in json.loads(result.stdout)}
    url = cli_env["DATABASE_URL"]
    fired = {e.payload["key"] for e in stored_events(url, type="EventCheckpointTriggered")}
    not_run = stored_events(url, type="DueJobNotRun")
    assert {e.payload["job"] for e in not_run} == fired - ran and not_run
    assert all(e.payload["reason"].startswith("its deadline passed before it began (at 16:") for e in not_run)
