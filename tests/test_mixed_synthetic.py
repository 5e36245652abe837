"""Offline, LLMTRADE_MARKET_PROVIDERS=csv,synthetic gives a symbol with no file the synthetic market's bars beside the
files' real ones. The run said only "prices: SYNTHETIC csv,synthetic" in its header: nothing told which symbols were
made up, though a snapshot's correlations, the risk gate's sizes and the accounts' comparison all mix the two. Now a
command whose read mixes them warns once (under --quiet too), naming both sides. A backtest cannot mix: it reads one
offline provider whatever LLMTRADE_MARKET_PROVIDERS says (app/backtest.py), and a universe symbol with no file refuses
its start."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.app.backtest import BacktestSpec
from llmtrade.cli import app
from llmtrade.settings import Settings
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history, refused_at_start
from tests.test_market_data import write_csv

runner = CliRunner()
MIXED = (
    "SYNTHETIC prices mixed with real ones: 10 symbols (IWM, TLT, IEF, HYG, LQD and 5 more) from the synthetic market, "
    "SPY, QQQ from csv"
)


@pytest.fixture
def two_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CSV folder with SPY and QQQ only, asked first, the synthetic market for the rest."""
    folder = tmp_path / "csv"
    for symbol in ("SPY", "QQQ"):
        write_csv(folder, symbol, date(2024, 6, 3), date(2026, 1, 6))
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(folder))
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "csv,synthetic")
    return folder


@pytest.mark.parametrize("command", [["run-weekly"], ["market", "snapshot"], ["status"]])
def test_a_command_whose_prices_mix_synthetic_and_real_ones_says_so_once_naming_both(
    wednesday_week: str, two_files: Path, command: list[str]
) -> None:
    result = runner.invoke(app, ["-q", *command])
    assert result.exit_code == 0, result.output
    line = " ".join(result.stderr.split())
    assert line.count("SYNTHETIC prices mixed with real ones") == 1, result.stderr
    assert MIXED in line and "means nothing" in line


def test_one_kind_of_prices_says_nothing_of_a_mix(wednesday_week: str, two_files: Path) -> None:
    bars = runner.invoke(app, ["-q", "market", "bars", "SPY"])
    assert bars.exit_code == 0 and "mixed" not in bars.stderr, bars.output


def test_a_backtest_reads_its_files_alone_whatever_the_providers_say_and_refuses_a_symbol_without_one(
    database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    """A guard: the synthetic market never fills a backtest's missing file, where its figures would mean nothing."""
    folder = tmp_path / "prices"
    _write(folder, {symbol: rows for symbol, rows in history(WEEK + timedelta(days=10)).items() if symbol != "IWM"})
    settings = Settings(
        DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path), LLMTRADE_MARKET_PROVIDERS="csv,synthetic"
    )
    spec = BacktestSpec(name=_unique(), first=WEEK, last=WEEK, offline=True, replay=False, csv=folder)
    refused_at_start(settings, spec, pg_admin_url, match=r"has no file for IWM")
