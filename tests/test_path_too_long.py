"""A path a user names with a name longer than the file system holds (ENAMETOOLONG, 255 bytes a name on Linux): a
new user's trial of `report -o`, `backtest --csv`, `--config` and `backtest sweep FILE` ended each in a traceback,
exit 1 (`Path.is_dir` raises for that errno where it answers False for a missing one). It is the path's fault, as a
missing folder is: one line naming it, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "command",
    [
        ["report", "-o", "{long}/report.html"],
        ["report", "-o", "{long}.html"],
        ["backtest", "--from", "2024-01-03", "--to", "2024-01-03", "--offline", "--csv", "{long}"],
        ["--config", "{long}", "leaderboard"],
        ["backtest", "sweep", "{long}.yaml"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_a_path_too_long_for_the_file_system_is_a_bad_argument_named(
    cli_env: dict[str, str], tmp_path: Path, command: list[str]
) -> None:
    long = str(tmp_path / ("y" * 300))
    result = runner.invoke(app, [part.format(long=long) for part in command])
    assert result.exit_code == 2, result.output
    assert "File name too long" in result.stderr and long in result.stderr, result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1, result.stderr
