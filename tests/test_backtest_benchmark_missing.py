"""A CSV folder without the benchmark's file is told to add it, never to leave it out of the universe.

Found by a new user's trial: without SPY.csv, `llmtrade backtest --csv DIR` said "csv folder DIR has no file for SPY:
add a SYMBOL.csv for each, or leave them out of assets.yaml's universe", but SPY is the benchmark every week reads
(and every baseline is ranked against), whatever the universe holds: leaving it out is no way on."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.config.models import BENCHMARK
from llmtrade.domain.market import Bar
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write
from tests.test_backtest_bad_start import bars as bars

runner = CliRunner()


def _refused(folder: Path) -> str:
    args = ["backtest", "--csv", str(folder), "--from", str(WEEK), "--to", str(WEEK), "--offline"]
    result = runner.invoke(cli, [*args, "--name", _unique()])
    assert result.exit_code == 2, result.output  # the configured folder's to mend (market/failures.py PriceFileMissing)
    return " ".join(result.stderr.split())


def test_a_missing_benchmark_file_is_to_be_added_not_left_out(
    bars: dict[str, list[Bar]], cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "prices"
    _write(folder, {symbol: rows for symbol, rows in bars.items() if symbol != BENCHMARK})
    said = _refused(folder)
    assert (
        f"csv folder {folder} (--csv) has no file for SPY, the benchmark ({folder / 'SPY.csv'} does not exist): every "
        "week reads it and the leaderboard ranks against it, whatever the universe holds, so it cannot be left out: "
        "add SPY.csv"
    ) in said, said
    assert "out of the universe" not in said and "add a SYMBOL.csv for each" not in said


def test_with_other_files_missing_only_they_may_be_left_out(
    bars: dict[str, list[Bar]], cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "prices"
    _write(folder, {symbol: rows for symbol, rows in bars.items() if symbol not in (BENCHMARK, "IWM")})
    said = _refused(folder)
    assert f"csv folder {folder} (--csv) has no file for IWM ({folder / 'IWM.csv'} does not exist): add it, or" in said
    assert "no file for SPY, the benchmark (" in said and "has no file for SPY, IWM" not in said
