"""`events --backtest NAME --week D` for a week of the range not run yet says what goes on as the leaderboard does:
found in a trial (README check, 2026-12-07), it said "the same `llmtrade backtest` command again goes on" of a
backtest whose last start stopped on a bad price file (that command meets the file again, exit 2) and of one another
process was running (that command meets its lock, exit 75)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from llmtrade.app.backtest_lock import take
from llmtrade.cli import app as cli
from llmtrade.config.models import BENCHMARK
from llmtrade.storage.database import backtest_database
from tests.test_backtest import _unique, _url
from tests.test_backtest_bad_start import WEEK, _write, history

runner = CliRunner()


def test_a_week_not_run_yet_names_what_stopped_the_backtest_or_that_it_runs(
    cli_env: dict[str, str], pg_admin_url: str, tmp_path: Path
) -> None:
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(WEEK + timedelta(days=10)), bad=BENCHMARK)
    args = ["backtest", "--csv", str(folder), "--from", str(WEEK), "--to", str(WEEK), "--offline", "--name", name]
    ran = runner.invoke(cli, args)
    assert ran.exit_code == 2, ran.output

    asked = runner.invoke(cli, ["events", "--backtest", name, "--week", str(WEEK)])
    assert asked.exit_code == 2, asked.output
    said = " ".join(asked.stderr.split())
    assert f"backtest {name} has not run that week yet" in said, said
    assert "again goes on" not in said, said
    assert "its last run stopped on an error the same command meets again (exit 2: csv: " in said, said
    assert "SPY.csv, line " in said and said.endswith("then run the same `llmtrade backtest` command to run it"), said

    # Another process holding the backtest's lock: it is running, not to be started again.
    with psycopg.connect(_url(pg_admin_url, backtest_database(name)), autocommit=True) as holder:
        assert take(holder)
        running = runner.invoke(cli, ["events", "--backtest", name, "--week", str(WEEK)])
    assert running.exit_code == 2, running.output
    said = " ".join(running.stderr.split())
    assert "it is running now (another process holds its database) and has not reached that week" in said, said
