"""A sweep's runs read a CSV folder's intraday files (`intraday/SYMBOL.csv`) as `llmtrade backtest` does.

Found by a tester: a sweep shipped its workers, and fingerprinted, the folder's top-level *.csv files alone, so a run
priced every checkpoint at the session's open (an order sent in session filling at the close) where the backtest of
the same folder and range priced it from the intraday file: another set of books, silently. The intraday files now
travel with the daily ones and are part of the run's id: a row its jobs could read changed is another run; rows
only appended after its last job are not."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.config.loader import load_config
from llmtrade.domain.market import Bar
from llmtrade.market.calendar import NEW_YORK
from llmtrade.settings import Settings
from llmtrade.sweep.driver import prepare
from tests.test_backtest_bad_start import WEEK, _write, history
from tests.test_backtest_intraday_resume import _intraday

runner = CliRunner()
SWEEP = "retries: 0\nranges: [{from: 2026-01-07, to: 2026-01-07}]\n"  # its jobs run to Tuesday 2026-01-13
SYMBOLS = ("SPY", "GLD", "QQQ", "TLT")


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    """Daily files to 2026-01-14, and intraday files of four symbols to the same day."""
    folder = tmp_path / "prices"
    bars = _bars()
    _write(folder, {s: [b for b in rows if b.day.isoformat() <= "2026-01-14"] for s, rows in bars.items()})
    for symbol in SYMBOLS:
        _intraday(folder, symbol, [b for b in bars[symbol] if b.day.isoformat() <= "2026-01-14"])
    return folder


def _bars() -> dict[str, list[Bar]]:
    return history(WEEK + timedelta(days=10))  # to 2026-01-16


def _ids(tmp_path: Path, folder: Path) -> list[str]:
    path = tmp_path / "sweep.yaml"
    path.write_text("name: intra\n" + SWEEP)
    _, _, plans = prepare(Settings(), load_config(None), path, folder)
    return [p.run_id for p in plans]


def _board(name: str) -> dict[str, Any]:
    shown = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json"])
    assert shown.exit_code == 0, shown.output
    board = json.loads(shown.stdout)
    return {key: board[key] for key in ("standings", "curves", "periods", "paired", "sessions", "prices")}


def test_a_sweep_run_stores_the_books_the_backtest_of_the_same_folder_and_range_stores(
    cli_env: dict[str, str], tmp_path: Path, prices: Path
) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: i{uuid.uuid4().hex[:8]}\n" + SWEEP)
    swept = runner.invoke(cli, ["backtest", "sweep", str(path), "--csv", str(prices), "--json"])
    assert swept.exit_code == 0, swept.output
    run = json.loads(swept.stdout[: swept.stdout.rindex("}") + 1])["runs"][0]
    assert run["status"] == "finished", run
    plain = f"p{uuid.uuid4().hex[:8]}"
    args = ["--from", "2026-01-07", "--to", "2026-01-07", "--offline", "--csv", str(prices), "--name", plain]
    alone = runner.invoke(cli, ["backtest", *args])
    assert alone.exit_code == 0, alone.output
    assert _board(run["backtest"]) == _board(plain)


def _nudge(folder: Path, symbol: str, day: str) -> None:
    """`symbol`'s intraday prices on New York day `day` raised by 1%."""
    file = folder / "intraday" / f"{symbol}.csv"
    lines = file.read_text().splitlines()
    for n, line in enumerate(lines[1:], start=1):
        stamp, price = line.split(",")
        if stamp.startswith(day):
            lines[n] = f"{stamp},{float(price) * 1.01:.4f}"
    file.write_text("\n".join(lines) + "\n")


def test_an_intraday_row_a_run_reads_changed_is_another_run_and_rows_appended_after_it_are_not(
    tmp_path: Path, prices: Path
) -> None:
    before = _ids(tmp_path, prices)
    with (prices / "intraday" / "GLD.csv").open("a") as file:  # the next days' download, after the last job
        for day in ("2026-01-15", "2026-01-16"):
            file.write(f"{datetime.combine(datetime.fromisoformat(day), time(10), NEW_YORK).isoformat()},400.5\n")
    assert _ids(tmp_path, prices) == before
    _nudge(prices, "GLD", "2026-01-08")  # a session the week's checkpoints price
    assert _ids(tmp_path, prices) != before


def test_an_intraday_file_added_or_unreadable_is_another_run(tmp_path: Path, prices: Path) -> None:
    before = _ids(tmp_path, prices)
    _intraday(prices, "IWM", [b for b in _bars()["IWM"] if b.day.isoformat() <= "2026-01-14"])
    added = _ids(tmp_path, prices)
    assert added != before
    with (prices / "intraday" / "IWM.csv").open("a") as file:  # a bad row after the range: a quote of it stops
        file.write("2026-02-02T10:00:00-05:00,not a price\n")
    assert _ids(tmp_path, prices) not in (before, added)


def test_a_workers_copy_holds_the_intraday_files_and_mends_them_when_removed(prices: Path) -> None:
    import shutil

    from llmtrade.market.csv_files import intraday_files, price_files
    from llmtrade.sweep.work import Shared, prices_folder

    files = price_files(prices) | intraday_files(prices)
    shared = Shared(
        settings={}, config_dir=None, config_source="packaged", prices=files, prices_hash=uuid.uuid4().hex * 2
    )
    copy = prices_folder(shared)
    assert copy is not None
    try:
        assert (copy / "intraday" / "GLD.csv").read_bytes() == (prices / "intraday" / "GLD.csv").read_bytes()
        shutil.rmtree(copy / "intraday")  # a /tmp cleaner's work between two runs
        assert prices_folder(shared) == copy
        assert sorted(p.name for p in (copy / "intraday").iterdir()) == [f"{s}.csv" for s in sorted(SYMBOLS)]
    finally:
        shutil.rmtree(copy, ignore_errors=True)
