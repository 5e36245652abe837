"""A backtest's CSV folder moved (or copied) elsewhere, its files the same, is the same prices: the same command with
the new `--csv` resumes it. README lists a backtest's inputs as its first week, mode, config hash and price files'
hash; the folder's path is where they are, not what they are. Other files, or another kind of prices, are still
refused, naming the folder the books were read from."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from llmtrade.cli import app as cli
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history

runner = CliRunner()
ARGS = ["backtest", "--from", str(WEEK), "--offline"]


def _first_week(tmp_path: Path) -> tuple[Path, str]:
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(WEEK + timedelta(days=17)))
    ran = runner.invoke(cli, [*ARGS, "--name", name, "--csv", str(folder), "--to", str(WEEK)])
    assert ran.exit_code == 0, ran.output
    return folder, name


def test_a_moved_csv_folder_with_the_same_files_resumes_the_backtest(cli_env: dict[str, str], tmp_path: Path) -> None:
    """Found in a trial: a backtest's price folder copied to another path, byte for byte, was refused on resume
    ("was started with other inputs: prices csv:/A (now csv:/B)", exit 2): its weeks could only be run again."""
    first, name = _first_week(tmp_path)
    moved = tmp_path / "elsewhere" / "etf"
    shutil.copytree(first, moved)
    shutil.rmtree(first)
    resumed = runner.invoke(cli, [*ARGS, "--name", name, "--csv", str(moved), "--to", str(WEEK + timedelta(days=7))])
    assert resumed.exit_code == 0, resumed.output
    said = " ".join(resumed.output.split())
    assert "weeks: 1 run now, 1 done before, 2 in range" in said, said
    assert f"prices: the CSV folder is now {moved.resolve()} (it was {first.resolve()}); its files are the same" in said
    # The leaderboard reads the folder the books now come from (the first one is gone).
    board = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json"])
    assert board.exit_code == 0, board.output
    assert json.loads(board.stdout)["prices"]["sources"] == ["csv"]


def test_other_files_or_another_kind_of_prices_are_refused_naming_the_folder(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The moved-folder change first named a refused switch to the synthetic market 'prices csv: (now synthetic)',
    without the folder the books were read from."""
    first, name = _first_week(tmp_path)
    second = ["--name", name, "--to", str(WEEK + timedelta(days=7))]
    other = tmp_path / "other"
    keys = ("open", "high", "low", "close")
    bars = history(WEEK + timedelta(days=17))
    dearer = {
        symbol: [b.model_copy(update={k: getattr(b, k) * 1.01 for k in keys}) for b in rows]
        for symbol, rows in bars.items()
    }
    _write(other, dearer)
    refused = runner.invoke(cli, [*ARGS, *second, "--csv", str(other)])
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.stderr.split())
    assert f"was started with other inputs: prices csv:{first.resolve()} (now csv:{other.resolve()})" in said, said
    synthetic = runner.invoke(cli, [*ARGS, *second])
    assert synthetic.exit_code == 2, synthetic.output
    assert f"prices csv:{first.resolve()} (now synthetic)" in " ".join(synthetic.stderr.split()), synthetic.stderr


def _config_reading(folder: Path, to: Path) -> Path:
    """An editable config (`llmtrade init`) whose assets.yaml names `folder` as market_data.csv_dir."""
    made = runner.invoke(cli, ["init", str(to)])
    assert made.exit_code == 0, made.output
    assets = to / "assets.yaml"
    text = assets.read_text()
    assert "csv_dir: null" in text
    assets.write_text(text.replace("csv_dir: null", f"csv_dir: {folder}", 1))
    return to


def test_a_moved_folder_named_by_the_configs_csv_dir_resumes_and_reads_as_its_books(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Found in a trial: the folder moved and assets.yaml's csv_dir pointed at its new place (the README's way to
    name it) was refused, exit 2, "started with other inputs: ... config hash ...: assets.market_data.csv_dir "/A"
    (now "/B")", where `--csv /B` to the same files went on; and `leaderboard --config` with that config said the
    books ran with another config. Where the files are is no input, in the config as on the command line."""
    first, name = tmp_path / "prices", _unique()
    _write(first, history(WEEK + timedelta(days=17)))
    before = _config_reading(first, tmp_path / "before")
    ran = runner.invoke(cli, [*ARGS, "--name", name, "--to", str(WEEK), "--config", str(before)])
    assert ran.exit_code == 0, ran.output
    moved = tmp_path / "elsewhere" / "etf"
    shutil.copytree(first, moved)
    shutil.rmtree(first)
    after = _config_reading(moved, tmp_path / "after")
    board = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json", "--config", str(after)])
    assert board.exit_code == 0, board.output  # read before any resume recorded the config naming the new place
    second = ["--name", name, "--to", str(WEEK + timedelta(days=7)), "--config", str(after)]
    resumed = runner.invoke(cli, [*ARGS, *second])
    assert resumed.exit_code == 0, resumed.output
    said = " ".join(resumed.output.split())
    assert "weeks: 1 run now, 1 done before, 2 in range" in said, said
    assert f"prices: the CSV folder is now {moved.resolve()} (it was {first.resolve()}); its files are the same" in said
