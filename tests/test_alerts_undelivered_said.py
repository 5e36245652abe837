"""Alerts that reached no one - owed (their sends failed so far), given up after three days, or to a URL apprise can use
none of - were said once on stderr by the job command that met them (under cron: a log file or an unread mail) and
shown by no `status`, which the owed alert's own text points to: the user who set LLMTRADE_ALERT_URLS to hear of
failures heard of neither the failures nor the alerts lost. `status` lists them, and its --json."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

from typer.testing import CliRunner

from llmtrade.alerts.dispatch import dispatch
from llmtrade.alerts.incidents import find_incidents
from llmtrade.alerts.send import send, target_of
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.alerts import AlertGivenUp
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import RunFailed
from llmtrade.domain.streams import alert_stream
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.support import FIXED_NOW
from tests.test_alerts import CONFIG

runner = CliRunner()


def _nobody() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"json://127.0.0.1:{probe.getsockname()[1]}/nobody"


def test_status_lists_the_alerts_owed_given_up_and_to_an_unusable_url(wednesday_week: str) -> None:
    dead = _nobody()
    before = FixedClock(FIXED_NOW - timedelta(hours=1))
    with open_storage(Settings(DATABASE_URL=wednesday_week), before) as storage:
        failed = RunFailed(command="checkpoint", error_type="StageError", error="boom", duration_ms=10)
        storage.events.append([NewEvent.of(failed, stream="run:r1", run_id="r1")])
        incidents = find_incidents(storage.events, CONFIG, before.now(), silence=False)
        dispatch(storage.events, incidents, [dead, "json:/bad"], send, before.now())
        gone = AlertGivenUp(
            key="drawdown:acct_1:2026-01-05",
            kind="drawdown",
            target=target_of(dead),
            attempts=4,
            first_failed_at=FIXED_NOW - timedelta(days=3),
            error="connection refused",
        )
        storage.events.append([NewEvent.of(gone, stream=alert_stream(gone.key, gone.target))])

    result = runner.invoke(app, ["status", "--json", "--offline"])
    assert result.exit_code == 0, result.output
    # Before: no such field; nothing of these in `status`.
    listed = {a["state"]: a for a in json.loads(result.stdout)["alerts_not_delivered"]}
    assert set(listed) == {"owed", "given up", "URL unusable"}
    assert listed["owed"]["alert"] == "llmtrade: checkpoint failed (StageError)"
    assert listed["owed"]["target"] == target_of(dead) and listed["owed"]["attempts"] == 1
    assert listed["given up"]["alert"] == "drawdown alert drawdown:acct_1:2026-01-05"
    assert listed["given up"]["attempts"] == 4 and listed["given up"]["error"] == "connection refused"
    assert listed["URL unusable"]["target"].startswith("URL 2 of 2")
    assert "json:/bad" not in result.stdout and dead not in result.stdout  # a URL may hold a secret: never shown

    text = runner.invoke(app, ["status", "--offline"])
    assert text.exit_code == 0, text.output
    assert "alerts that reached no one" in text.stdout
    row = next(line for line in text.stdout.splitlines() if line.startswith("owed\t"))
    assert row.startswith("owed\tllmtrade: checkpoint failed (StageError)\t"), row
