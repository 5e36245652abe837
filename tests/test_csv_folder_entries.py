"""What else a folder of prices may hold: a folder named `old.csv`, a link to nothing, a pipe, a file that cannot be
read. Found in a user's trial: `backtest --csv DIR` (and `backtest sweep --csv DIR`) ended in a traceback
(IsADirectoryError, FileNotFoundError) from the price data hash, which read every *.csv. Now what is not a regular
file is passed over when the prices are hashed or shipped, and a symbol that needs it is refused naming it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.config.loader import load_config
from llmtrade.domain.market import Bar
from llmtrade.errors import MarketDataMissing, UsageError
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.settings import Settings
from llmtrade.sweep.driver import prepare
from tests.market_series import END, START, rows, write
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _run, _write
from tests.test_backtest_bad_start import bars as bars

runner = CliRunner()
SWEEP = "name: demo\nranges:\n  - {from: 2026-01-07, to: 2026-01-21}\n"


def _clutter(folder: Path) -> None:
    """What the trial's folder held beside the prices: a folder `old.csv` and a link `ZZZ.csv` to nothing."""
    (folder / "old.csv").mkdir()
    (folder / "ZZZ.csv").symlink_to("/nonexistent")


def _no_file(path: Path, kind: str) -> None:
    """Something at `path` (a symbol's SYMBOL.csv) that is not a file of prices."""
    if kind == "a folder":
        path.mkdir()
    elif kind == "a link to nothing":
        path.symlink_to(path.parent / "gone" / path.name)
    else:
        os.mkfifo(path)


def _unreadable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """`name` reads as a file without read permission would for a user (the tests run as root, who reads anything)."""
    read = Path.read_bytes

    def refused(self: Path) -> bytes:
        if self.name == name:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return read(self)

    monkeypatch.setattr(Path, "read_bytes", refused)


def test_a_backtest_passes_over_what_is_not_a_file_of_prices(
    bars: dict[str, list[Bar]], cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder, name = tmp_path / "prices", _unique()
    _write(folder, bars)
    _clutter(folder)
    week = WEEK.isoformat()
    args = ["backtest", "--offline", "--csv", str(folder), "--from", week, "--to", week, "--name", name]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.exception is None
    # The clutter is no part of the prices: without it the same backtest resumes (the same price data hash).
    (folder / "old.csv").rmdir()
    (folder / "ZZZ.csv").unlink()
    again = _run(cli_env["DATABASE_URL"], tmp_path, name, folder)
    assert (again.weeks_done_before, again.weeks_run) == (1, 0)


@pytest.mark.parametrize("kind", ["a folder", "a link to nothing", "a pipe"])
def test_a_symbol_whose_file_is_no_file_is_refused_naming_what_is_there(tmp_path: Path, kind: str) -> None:
    write(tmp_path, "SPY", rows("SPY"))
    _no_file(tmp_path / "TLT.csv", kind)
    said = {
        "a folder": "is a folder, not a file",
        "a link to nothing": f"is a link to {tmp_path / 'gone' / 'TLT.csv'}, which does not exist",
        "a pipe": "is not a regular file (a pipe, socket or device)",
    }[kind]
    with pytest.raises(MarketDataMissing) as refused:
        CsvFolderProvider(tmp_path).daily_bars(["SPY", "TLT"], START, END)
    assert str(refused.value) == (
        f"csv folder {tmp_path}: {tmp_path / 'TLT.csv'} {said}: each symbol's prices must be a readable file "
        "SYMBOL.csv (a link to one will do)"
    )
    assert refused.value.exit_code == 2  # the configured folder's to mend (market/failures.py PriceFileMissing)


def test_a_symbols_file_that_cannot_be_read_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "SPY", rows("SPY"))
    write(tmp_path, "TLT", rows("TLT"))
    _unreadable(monkeypatch, "TLT.csv")
    with pytest.raises(MarketDataMissing, match=r"/TLT\.csv cannot be read \(Permission denied\): each symbol's") as e:
        CsvFolderProvider(tmp_path).daily_bars(["SPY", "TLT"], START, END)
    assert e.value.exit_code == 2  # no permission: the folder's to mend, as exits.path_error has it


def test_a_sweep_ships_the_price_files_alone_and_names_a_needed_one_that_is_no_file(tmp_path: Path) -> None:
    prices = tmp_path / "prices"
    write(prices, "SPY", rows("SPY"))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(SWEEP)
    _, plain, _ = prepare(Settings(), load_config(None), sweep, prices)
    _clutter(prices)
    _, cluttered, _ = prepare(Settings(), load_config(None), sweep, prices)
    assert cluttered.prices is not None and sorted(cluttered.prices) == ["SPY.csv"]
    assert cluttered.prices_hash == plain.prices_hash  # the same prices, the same runs

    (prices / "GLD.csv").mkdir()  # GLD is in the packaged universe: its workers would say "no file for GLD"
    result = runner.invoke(cli, ["backtest", "sweep", str(sweep), "--csv", str(prices)])
    assert result.exit_code == 2, result.output
    assert f"prices folder {prices}: GLD.csv is a folder, not a file: each symbol's prices" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_price_file_that_cannot_be_read_is_refused_naming_it_not_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Left out of the hash, the prices would read as others once it became readable (a resume refused).
    prices = tmp_path / "prices"
    write(prices, "SPY", rows("SPY"))
    (prices / "notes.csv").write_text("a,b\n")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(SWEEP)
    _unreadable(monkeypatch, "notes.csv")
    with pytest.raises(UsageError) as refused:
        prepare(Settings(), load_config(None), sweep, prices)
    assert str(refused.value) == (
        f"prices folder {prices}: cannot read notes.csv: Permission denied; every *.csv file in it makes the "
        "prices' hash: make it readable or move it out"
    )
