"""A backtest stopped by its price files keeps why in its own books, one MarketDataRejected per problem, as a live
run does. Found by a new user: `llmtrade events --backtest NAME` showed nothing but BacktestStarted after a backtest
refused its CSV folder, while the same files refused in a live run were on record."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.domain.market import Bar
from llmtrade.errors import MarketDataError
from llmtrade.storage.database import backtest_database
from tests.test_backtest import _unique, _url
from tests.test_backtest_bad_start import _run, _write
from tests.test_backtest_bad_start import bars as bars
from tests.test_csv_all_problems import _three_bad_files

runner = CliRunner()


def test_a_backtest_stopped_by_its_prices_records_why_in_its_own_books(
    bars: dict[str, list[Bar]], cli_env: dict[str, str], pg_admin_url: str, tmp_path: Path
) -> None:
    """One MarketDataRejected per problem, as a live run records them, in the backtest's database; and the same
    command runs once the files are fixed (the refusals on record bind the name to no inputs)."""
    folder, name = tmp_path / "prices", _unique()
    _write(folder, bars)
    places = _three_bad_files(folder)
    with pytest.raises(MarketDataError):
        _run(cli_env["DATABASE_URL"], tmp_path, name, folder)
    with psycopg.connect(_url(pg_admin_url, backtest_database(name))) as conn:
        statement = "SELECT type, payload FROM events ORDER BY id"
        events = list(conn.execute(statement))
    # Then the stop itself (BacktestStopped): the leaderboard says to fix the files, not to run the command again.
    rejected = ["MarketDataRejected"] * len(places)
    assert [t for t, _ in events] == ["BacktestStarted", "BacktestConfigRecorded", *rejected, "BacktestStopped"]
    # A row that cannot be read is among them: a configuration to mend (exit 2, README; tests/test_csv_config_exit.py).
    assert events[-1][1]["exit_code"] == 2
    assert [p["where"] for _, p in events[2:-1]] == places
    assert [p["kind"] for _, p in events[2:-1]] == ["bad_price", "bad_volume", "unreadable", "bad_price", "bad_price"]
    shown = runner.invoke(cli, ["events", "--backtest", name, "--type", "MarketDataRejected"])
    assert shown.exit_code == 0 and shown.output.count("\tMarketDataRejected\t") == len(places), shown.output
    _write(folder, bars)
    fixed = _run(cli_env["DATABASE_URL"], tmp_path, name, folder)
    assert (fixed.weeks_done_before, fixed.weeks_run) == (0, 1)
