"""An event checkpoint a wake-up reaches after the session's close is not run, whatever its retry deadline: with
schedule.yaml `retry_until` a number of minutes, a checkpoint fired at 15:50 retries until after 16:00, and one begun at
16:02 (those before it ran for minutes, on the machine's clock) was judged at the day's close and its orders sent for
tomorrow's open, where a scheduled checkpoint begun after the close is not run (SessionOver)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.market.calendar import NEW_YORK
from tests.support import stored_events
from tests.test_event_checkpoint_clock import _running, _through_noon

runner = CliRunner()
CLOSE = datetime(2026, 1, 7, 16, 0, tzinfo=NEW_YORK)


def test_an_event_checkpoint_reached_after_the_close_is_not_run_though_its_deadline_is_later(
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
    ran = [r["job"] for r in json.loads(result.stdout)]
    url = cli_env["DATABASE_URL"]
    fired = [e.payload["key"] for e in stored_events(url, type="EventCheckpointTriggered")]
    assert len(fired) >= 4 and ran == fired[:2], (fired, ran)  # begun at 15:50 and 15:56; the third at 16:02 is not
    begun = [e.occurred_at for e in stored_events(url, type="RunStarted") if e.occurred_at >= CLOSE]
    assert begun == []
    late = [e for e in stored_events(url, type="PaperOrderAccepted") if e.occurred_at >= CLOSE]
    assert late == []
