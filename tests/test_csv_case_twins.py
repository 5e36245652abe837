"""A CSV price folder holding two files whose names differ only in case (`spy.csv` beside `SPY.csv`) is refused,
naming both (exit 2): a trial's backtest read SPY.csv and passed over spy.csv without a word, and a copy of the folder
on a filesystem blind to case keeps one of them, whichever came last."""

from __future__ import annotations

import shutil
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.csv_files import price_files
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.market.csv_quotes import CsvQuotes
from llmtrade.market.failures import PriceFileMissing, PriceFilesMisconfigured
from tests.market_series import END, START, rows, write
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history

runner = CliRunner()


def test_a_folder_with_names_alike_but_for_case_is_refused_naming_both(tmp_path: Path) -> None:
    folder = tmp_path / "prices"
    write(folder, "SPY", rows("SPY"))
    write(folder, "TLT", rows("TLT"))
    shutil.copy(folder / "SPY.csv", folder / "spy.csv")
    (folder / "old.csv").mkdir()  # no file of prices: passed over, as before
    provider = CsvFolderProvider(folder, named_by="--csv")
    assert [b.day for b in provider.daily_bars(["TLT"], START, END)["TLT"]]  # a symbol the pair is not read for
    for read in (lambda: provider.daily_bars(["SPY", "TLT"], START, END), lambda: price_files(folder)):
        with pytest.raises(PriceFilesMisconfigured) as refused:
            read()
        assert refused.value.exit_code == 2
        assert "SPY.csv and spy.csv differ only in case" in str(refused.value), str(refused.value)
    (folder / "spy.csv").unlink()
    assert set(price_files(folder)) == {"SPY.csv", "TLT.csv"}
    assert provider.daily_bars(["SPY"], START, END)["SPY"]


def test_a_backtest_on_such_a_folder_exits_2_naming_both_files(cli_env: dict[str, str], tmp_path: Path) -> None:
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(WEEK + timedelta(days=10)))
    shutil.copy(folder / "QQQ.csv", folder / "qqq.csv")
    args = ["backtest", "--csv", str(folder), "--from", str(WEEK), "--to", str(WEEK), "--offline", "--name", name]
    ran = runner.invoke(cli, args)
    assert ran.exit_code == 2, ran.output
    said = " ".join(ran.stderr.split())
    assert f"csv folder {folder}: QQQ.csv and qqq.csv differ only in case" in said, said
    assert "Traceback" not in ran.output


def _intraday_twins(folder: Path, symbol: str) -> None:
    """intraday/SYMBOL.csv and its lowercase twin, each a row at 10:00 of the week's Wednesday."""
    (folder / "intraday").mkdir(parents=True, exist_ok=True)
    row = f"Timestamp,Price\n{datetime.combine(WEEK, time(10), NEW_YORK).isoformat()},100.0\n"
    (folder / "intraday" / f"{symbol}.csv").write_text(row)
    (folder / "intraday" / f"{symbol.lower()}.csv").write_text(row)


def test_intraday_files_alike_but_for_case_are_refused_naming_both(tmp_path: Path) -> None:
    """The intraday files too: intraday/SPY.csv was read and intraday/spy.csv passed over (trial U)."""
    folder = tmp_path / "prices"
    _write(folder, history(WEEK + timedelta(days=2)))
    _intraday_twins(folder, "SPY")
    quotes = CsvQuotes(folder, TradingCalendar(), named_by="--csv")
    noon = datetime.combine(WEEK, time(12), NEW_YORK)
    assert quotes.latest(["TLT"], noon)["TLT"].kind == "daily-open"  # a symbol the pair is not read for
    with pytest.raises(PriceFilesMisconfigured) as refused:
        quotes.latest(["SPY", "TLT"], noon)
    assert refused.value.exit_code == 2
    assert "intraday (--csv): SPY.csv and spy.csv differ only in case" in str(refused.value), str(refused.value)


def test_a_backtest_on_a_folder_with_such_intraday_files_exits_2_naming_both(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(WEEK + timedelta(days=10)))
    _intraday_twins(folder, "QQQ")
    args = ["backtest", "--csv", str(folder), "--from", str(WEEK), "--to", str(WEEK), "--offline", "--name", name]
    ran = runner.invoke(cli, args)
    assert ran.exit_code == 2, ran.output
    said = " ".join(ran.stderr.split())
    assert f"csv folder {folder / 'intraday'}: QQQ.csv and qqq.csv differ only in case" in said, said
    assert "Traceback" not in ran.output


def test_a_symbols_file_found_only_under_another_spelling_is_named_with_the_fix(tmp_path: Path) -> None:
    """From trial U: a lone spy.csv (no SPY.csv) was reported as "no file for SPY" without naming it, leaving the
    user to wonder why the file they saved was not read."""
    folder = tmp_path / "prices"
    write(folder, "SPY", rows("SPY"))
    write(folder, "TLT", rows("TLT"))
    write(folder, "GLD", rows("GLD"))
    (folder / "SPY.csv").rename(folder / "spy.csv")
    (folder / "TLT.csv").rename(folder / "Tlt.csv")
    (folder / "gld.CSV").mkdir()  # not a file of prices: not offered as one
    (folder / "GLD.csv").unlink()
    provider = CsvFolderProvider(folder, named_by="--csv")
    with pytest.raises(PriceFileMissing) as missing:
        provider.daily_bars(["SPY", "TLT", "GLD"], START, END)
    said = str(missing.value)
    assert getattr(missing.value, "exit_code", None) == 2, said
    assert "spy.csv is there, but SPY's prices are read from SPY.csv only, spelt as the symbol: rename it so" in said
    assert "Tlt.csv is there, but TLT's prices are read from TLT.csv only" in said
    assert "gld.CSV" not in said, said
