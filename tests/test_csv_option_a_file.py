"""`--csv` given a price file rather than its folder says so, naming the folder to give (exit 2).

Found by a new user's trial: `llmtrade backtest --csv ~/data/SPY.csv ...` (and `backtest sweep --csv` alike) was
refused with "--csv ~/data/SPY.csv: no such folder", though the path exists: a file, one level too deep."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli

runner = CliRunner()


@pytest.fixture
def price_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices" / "SPY.csv"
    path.parent.mkdir()
    path.write_text("Date,Open,High,Low,Close,Volume\n2026-01-02,1,2,0.5,1,10\n")
    return path


def test_backtest_csv_given_a_file_names_its_folder(price_file: Path, tmp_path: Path) -> None:
    args = ["backtest", "--csv", str(price_file), "--from", "2026-01-07", "--to", "2026-01-07", "--offline"]
    result = runner.invoke(cli, args, env={"LLMTRADE_HOME": str(tmp_path)})
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    assert (
        f"--csv {price_file}: is a file, not a folder: give the folder that holds the SYMBOL.csv files "
        f"({price_file.parent})"
    ) in said, said


def test_sweep_csv_given_a_file_names_its_folder(price_file: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("name: s\nmode: offline\nranges:\n  - {from: 2026-01-07, to: 2026-01-07}\n")
    result = runner.invoke(cli, ["backtest", "sweep", str(sweep), "--csv", str(price_file)])
    assert result.exit_code == 2, result.output
    assert f"is a file, not a folder: give the folder that holds the SYMBOL.csv files ({price_file.parent})" in (
        " ".join(result.stderr.split())
    )


def test_csv_given_a_path_that_does_not_exist_is_no_such_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    args = ["backtest", "--csv", str(missing), "--from", "2026-01-07", "--to", "2026-01-07", "--offline"]
    result = runner.invoke(cli, args, env={"LLMTRADE_HOME": str(tmp_path)})
    assert result.exit_code == 2 and f"--csv {missing}: no such folder" in result.stderr, result.output
