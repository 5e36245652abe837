"""A bad option or value, or no such command, is one line on stderr and exit 2, as every other error is (README: "every
error on stderr with its exit code, in one line"). typer drew a box of five lines (a new user's `config check`,
`market bars SPY --days -3`), and cron mailed it so."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["schedule", "show", "-n", "3"],
            "error: No such option: -n (`llmtrade schedule show --help` says what it takes)",
        ),
        (["schedule", "show", "--count", "0"], "error: Invalid value for '--count': "),
        (["config", "check"], "error: No such command 'check'. (`llmtrade config --help` says what it takes)"),
        (["bogus"], "error: No such command 'bogus'. (`llmtrade --help` says what it takes)"),
        (["--bogus", "status"], "error: No such option: --bogus"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(args: list[str], line: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    [said] = result.stderr.splitlines()
    assert said.startswith(line), said


def test_no_subcommand_still_shows_the_help() -> None:
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
    assert "Usage: llmtrade config" in result.output and "error:" not in result.output
