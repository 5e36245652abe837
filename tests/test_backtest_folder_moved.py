"""A backtest's CSV folder moved (or copied) elsewhere, its files the same, is the same prices: the same command with
the new `--csv` resumes it. README lists a backtest's inputs as its first week, mode, config hash and price files'
hash; the folder's path is where they are, not what they are."""

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


def test_a_moved_csv_folder_with_the_same_files_resumes_the_backtest(cli_env: dict[str, str], tmp_path: Path) -> None:
    """Found in a trial: a backtest's price folder copied to another path, byte for byte, was refused on resume
    ("was started with other inputs: prices csv:/A (now csv:/B)", exit 2): its weeks could only be run again."""
    first, name = tmp_path / "prices", _unique()
    _write(first, history(WEEK + timedelta(days=17)))
    args = ["backtest", "--from", str(WEEK), "--offline", "--name", name, "--csv"]
    ran = runner.invoke(cli, [*args, str(first), "--to", str(WEEK)])
    assert ran.exit_code == 0, ran.output
    before = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json"])
    assert before.exit_code == 0, before.output
    moved = tmp_path / "elsewhere" / "etf"
    shutil.copytree(first, moved)
    shutil.rmtree(first)
    resumed = runner.invoke(cli, [*args, str(moved), "--to", str(WEEK + timedelta(days=7))])
    assert resumed.exit_code == 0, resumed.output
    said = " ".join(resumed.output.split())
    assert "weeks: 1 run now, 1 done before, 2 in range" in said, said
    assert f"prices: the CSV folder is now {moved.resolve()} (it was {first.resolve()}); its files are the same" in said
    # The leaderboard reads the folder the books now come from (the first one is gone): the same basis said.
    after = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json"])
    assert after.exit_code == 0, after.output
    assert json.loads(after.stdout)["prices"] == json.loads(before.stdout)["prices"]
    # Other files in the new folder are other prices: still refused, naming the folder and the hash.
    other = tmp_path / "other"
    keys = ("open", "high", "low", "close")
    bars = history(WEEK + timedelta(days=17))
    _write(
        other,
        {s: [b.model_copy(update={k: getattr(b, k) * 1.01 for k in keys}) for b in rows] for s, rows in bars.items()},
    )
    refused = runner.invoke(cli, [*args, str(other), "--to", str(WEEK + timedelta(days=7))])
    assert refused.exit_code == 2, refused.output
    assert "was started with other inputs" in " ".join(refused.stderr.split())
