"""A `--replay` backtest stopped by a cache miss says what can be done next, each of it a command that runs:
`--offline` and `--replay` exclude each other, so the advice cannot be to replay with --offline."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from llmtrade.cli import app as cli
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history

runner = CliRunner()


def test_a_replay_miss_advises_commands_that_run(cli_env: dict[str, str], tmp_path: Path) -> None:
    """Found in a trial: `backtest --replay` on an empty cache stopped (exit 1) advising "or replay with --offline
    under a new --name"; following it gives "--offline and --replay exclude each other" (exit 2)."""
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(WEEK + timedelta(days=10)))
    args = ["backtest", "--csv", str(folder), "--from", str(WEEK), "--to", str(WEEK), "--name", name]
    missed = runner.invoke(cli, [*args, "--replay"])
    assert missed.exit_code == 1, missed.output
    said = " ".join(missed.stderr.split())
    assert "the replay cache lacks that answer" in said, said
    assert "replay with --offline" not in said
    assert "or run the range with --offline (the rules provider, no model) under a new --name" in said, said
    assert "exclude each other" in " ".join(runner.invoke(cli, [*args, "--replay", "--offline"]).stderr.split())
