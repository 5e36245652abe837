"""A path given empty (a variable not set: `-o "$OUT"`) is refused, not read as the current folder; crontab lines cron
would run broken (an empty --log, a path holding a line break) are refused before any is printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["report", "--backtest", "x", "-o", ""], "'--output' / '-o'"),
        (["--config", "", "status"], "'--config' / '-c'"),
        (["status", "--config", ""], "'--config' / '-c'"),
        (["backtest", "--from", "2026-01-07", "--to", "2026-01-07", "--offline", "--csv", ""], "'--csv'"),
        (["backtest", "sweep", ""], "'FILE'"),
        (["backtest", "sweep", "s.yaml", "--csv", ""], "'--csv'"),
        (["init", ""], "'DIRECTORY'"),
    ],
)
def test_an_empty_path_is_refused_naming_its_option(args: list[str], named: str) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {named}: an empty path (a variable not set?)" in result.stderr
    assert "Traceback" not in result.output


def test_init_into_an_empty_path_writes_nothing_here() -> None:
    runner.invoke(cli, ["init", ""])
    assert list(Path(".").iterdir()) == []  # the current folder (conftest: empty) was not taken for ""


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["schedule", "crontab", "--log", ""], "--log is empty"),
        (["schedule", "crontab", "--log", "a\nb.log"], "--log 'a\\nb.log' holds a line break"),
        (["schedule", "crontab", "--log", "a\rb.log"], "--log 'a\\rb.log' holds a line break"),
    ],
)
def test_crontab_lines_cron_would_run_broken_are_refused(args: list[str], said: str) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert said in result.stderr and result.stdout == ""


def test_a_config_folder_with_a_line_break_gets_no_crontab(tmp_path: Path) -> None:
    folder = tmp_path / "cfg\nx"
    assert runner.invoke(cli, ["init", str(folder)]).exit_code == 0
    result = runner.invoke(cli, ["--config", str(folder), "schedule", "crontab"])
    assert result.exit_code == 2, result.output
    assert "--config" in result.stderr and "holds a line break" in result.stderr and result.stdout == ""
