"""A run-due wake-up on the machine's moving clock that lists today's last checkpoint as due just before the close,
and reaches it just after: the job was due when listed, and is no longer when it begins. Said, not a usage error."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import llmtrade.app.due_run as due_run
import llmtrade.clock
from llmtrade.cli import app
from llmtrade.config.loader import write_defaults
from llmtrade.market.calendar import NEW_YORK
from tests.fakes.running_clock import RunningClock
from tests.support import stored_events
from tests.test_week_lifecycle import write_market

runner = CliRunner()


def test_a_checkpoint_listed_due_before_the_close_and_reached_after_it_is_said_not_run(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_market(tmp_path / "csv")
    write_defaults(tmp_path / "config")  # checkpoints at 09:00, 12:00, 14:00 and 15:50
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "csv")
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(tmp_path / "csv"))
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    weekly = runner.invoke(app, ["run-due", "--offline", "--json"])
    assert weekly.exit_code == 0, weekly.output

    # 15:59:59 on the machine's clock; the wake-up's own work before the checkpoint (the closing of expired ones, the
    # missed ones said, the brokers asked) takes it past 16:00. The database server's clock is today's: no skew check.
    clock = RunningClock(datetime(2026, 1, 7, 15, 59, 59, tzinfo=NEW_YORK))
    monkeypatch.delenv("LLMTRADE_NOW")
    monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", "0")
    monkeypatch.setattr(llmtrade.clock, "make_clock", lambda fixed: clock)
    listed = due_run.due

    def due_then_later(container: Any) -> Any:
        jobs = listed(container)
        clock.advance(timedelta(seconds=2))
        return jobs

    monkeypatch.setattr(due_run, "due", due_then_later)
    result = runner.invoke(app, ["run-due", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert "checkpoint:2026-01-07T15:50" in result.stderr and "session has closed" in result.stderr
    assert "error" not in result.stderr.lower()
    started = stored_events(cli_env["DATABASE_URL"], type="RunStarted")
    assert [e.payload["command"] for e in started] == ["run-weekly"]  # no checkpoint began
