"""A job command stopped by a malformed environment setting (LLMTRADE_CLOCK_SKEW_MINUTES=five, a Pushgateway URL with
no host) said so and exited 2, and left nothing in the books and sent no alert, where a bad YAML file is recorded
(ConfigRejected) and alerted: a cron whose output goes to a log file did nothing for days unseen. It is recorded and
alerted the same way, with the other settings; where it cannot be (the refused setting dates every record, or the
database cannot be reached), its one line says it is not recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import WEDNESDAY_8AM, stored_events
from tests.test_alerts import HttpSink

runner = CliRunner()


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink()
    yield sink
    sink.stop()


def _rejections(url: str, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    with monkeypatch.context() as read:
        read.delenv("LLMTRADE_CLOCK_SKEW_MINUTES")  # the test's own reading of the books takes the settings too
        return stored_events(url, type="ConfigRejected")


def test_a_malformed_setting_is_recorded_and_alerted_once_as_a_bad_configuration(
    cli_env: dict[str, str], http_sink: HttpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", "five")
    monkeypatch.setenv("LLMTRADE_ALERT_URLS", http_sink.url)
    result = runner.invoke(app, ["-q", "run-due"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: bad environment setting: LLMTRADE_CLOCK_SKEW_MINUTES='five': must be a number of minutes from 0 to "
        "525600 (a year); 0 turns the check off"
    ]
    # Before: nothing recorded, nothing sent.
    [rejected] = _rejections(cli_env["DATABASE_URL"], monkeypatch)
    assert rejected.payload["command"] == "run-due"
    assert rejected.payload["files"] == ["LLMTRADE_CLOCK_SKEW_MINUTES"]
    assert "LLMTRADE_CLOCK_SKEW_MINUTES='five'" in rejected.payload["error"]
    assert rejected.occurred_at.isoformat().startswith("2026-01-07T13:00")  # LLMTRADE_NOW's time, the books' clock
    [alert] = http_sink.received
    assert alert["title"] == "llmtrade: the configuration cannot be loaded; nothing runs"
    assert "LLMTRADE_CLOCK_SKEW_MINUTES" in alert["message"]

    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:05:00-05:00")  # the next wake-up: the same error
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 2
    assert len(_rejections(cli_env["DATABASE_URL"], monkeypatch)) == 1  # once while it lasts
    assert len(http_sink.received) == 1  # once a day


def test_a_malformed_clock_setting_is_said_not_recorded(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The system clock's time in books kept on LLMTRADE_NOW's would stand ahead of them: nothing is recorded.
    monkeypatch.setenv("LLMTRADE_NOW", "yesterday")
    result = runner.invoke(app, ["-q", "run-weekly"])
    assert result.exit_code == 2
    [said] = result.stderr.splitlines()
    assert said.startswith("error: bad environment setting: LLMTRADE_NOW='yesterday': not a date and time")
    assert said.endswith("Not recorded in the books: LLMTRADE_NOW sets the time every record is dated by.")
    monkeypatch.delenv("LLMTRADE_NOW")
    assert stored_events(cli_env["DATABASE_URL"]) == []


def test_a_malformed_setting_with_the_database_unreachable_says_it_is_not_recorded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@/postgres?host={tmp_path}/no-server&connect_timeout=2")
    monkeypatch.setenv("LLMTRADE_PUSHGATEWAY_URL", "http:///metrics")
    result = runner.invoke(app, ["-q", "run-weekly"])
    assert result.exit_code == 2  # the setting's exit, not the database's 75
    [said] = result.stderr.splitlines()
    assert said.startswith("error: bad environment setting: LLMTRADE_PUSHGATEWAY_URL='http:///metrics': has no host")
    assert "Not recorded in the books: the database cannot be reached (" in said


def test_a_dotenv_that_cannot_be_read_is_said_not_recorded(cli_env: dict[str, str]) -> None:
    # The .env file may name the database, the home or the time (LLMTRADE_NOW) that the environment leaves unset, and
    # cannot be read: which books, and what time, are not known, so nothing is recorded.
    Path(".env").write_bytes(b"OPENROUTER_API_KEY=sk\nLLMTRADE_NOW=caf\xe9\n")
    result = runner.invoke(app, ["-q", "run-due"])
    assert result.exit_code == 2
    [said] = result.stderr.splitlines()
    assert f"{Path('.env').resolve()}, line 2, column 17: byte 0xE9 is not UTF-8" in said
    # Before: not a word of the books, where a malformed variable is recorded.
    assert said.endswith(
        "Not recorded in the books: the .env file, which may name their database or the time, cannot be read."
    )
    Path(".env").unlink()
    assert stored_events(cli_env["DATABASE_URL"]) == []
