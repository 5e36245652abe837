"""A job command stopped by a configuration it cannot use leaves a ConfigRejected in the books, naming the file and
what is wrong, with no alert URL set: an operator's cron ran `llmtrade -q run-due` for weeks against a broken file,
each wake-up exited 2 and the books said nothing of the days it did nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events

runner = CliRunner()


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A complete configuration with one invalid value in risk.yaml."""
    folder = tmp_path / "config"
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    (folder / "risk.yaml").write_text("limits: {max_position_pct: lots}\n")
    return folder


@pytest.mark.parametrize("command", [["run-due"], ["run-weekly"], ["checkpoint", "12:00"], ["postmortem"]])
def test_a_job_stopped_by_its_configuration_records_it_once_while_it_lasts(
    command: list[str], broken: Path, cli_env: dict[str, str]
) -> None:
    for _ in range(2):  # cron's next wake-up finds it on record already
        result = runner.invoke(app, ["--config", str(broken), "-q", *command])
        assert result.exit_code == 2 and "risk.yaml" in result.stderr, result.output
    [event] = stored_events(cli_env["DATABASE_URL"], type="ConfigRejected")
    rejected = event.payload
    assert rejected["command"] == command[0] and rejected["files"] == [str(broken / "risk.yaml")]
    assert "limits.max_position_pct" in rejected["error"] and "'lots'" in rejected["error"]

    shown = runner.invoke(app, ["events", "--type", "ConfigRejected", "--json"])
    assert shown.exit_code == 0 and "max_position_pct" in shown.stdout

    (broken / "risk.yaml").write_text("limits: {max_position_pct: [1]}\n")  # another problem: on record too
    assert runner.invoke(app, ["--config", str(broken), "-q", *command]).exit_code == 2
    assert len(stored_events(cli_env["DATABASE_URL"], type="ConfigRejected")) == 2


def test_a_dry_run_records_nothing(broken: Path, cli_env: dict[str, str]) -> None:
    assert runner.invoke(app, ["--config", str(broken), "-q", "run-weekly", "--dry-run"]).exit_code == 2
    assert stored_events(cli_env["DATABASE_URL"], type="ConfigRejected") == []


def test_a_database_out_of_reach_is_said_and_the_exit_stays_2(broken: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://llmtrade@127.0.0.1:1/llmtrade")
    result = runner.invoke(app, ["--config", str(broken), "-q", "run-due"])
    assert result.exit_code == 2, result.output
    assert "the configuration error is not recorded in the books: the database cannot be reached" in result.stderr
    assert "risk.yaml" in result.stderr and "Traceback" not in result.output


def test_two_commands_stopped_by_the_same_error_record_it_once_each(broken: Path, cli_env: dict[str, str]) -> None:
    """A review of b519064: cron's run-due and a checkpoint run by hand on the same broken file, one after the other,
    recorded one ConfigRejected per wake-up: each was compared with the other command's rejection only."""
    for command in (["run-due"], ["checkpoint", "12:00"]) * 3:
        assert runner.invoke(app, ["--config", str(broken), "-q", *command]).exit_code == 2
    recorded = stored_events(cli_env["DATABASE_URL"], type="ConfigRejected")
    assert sorted(e.payload["command"] for e in recorded) == ["checkpoint", "run-due"]
