"""A sweep run's id hashes what its backtest reads of the CSV prices (sweep/prices.py), not every row of the folder:
rows appended after the last session its range reads leave it the same run (done earlier), and any bar it reads
changed, before or inside its range, makes another.

Found by a tester: a folder whose files only grew (a weekly download appending the new week) made every run of the
sweep run again."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.config.loader import load_config
from llmtrade.domain.market import Bar
from llmtrade.settings import Settings
from llmtrade.sweep.driver import prepare
from llmtrade.sweep.spec import run_hash
from tests.test_backtest_bad_start import WEEK, _write, history

runner = CliRunner()
# The week of 2026-01-07 reads to Tuesday 2026-01-13 (its last job's last closed session).
SWEEP = "retries: 0\nranges: [{from: 2026-01-07, to: 2026-01-07}]\n"


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    """The universe's and SPY's daily bars to 2026-01-14, a session after the range reads."""
    folder = tmp_path / "prices"
    _write(folder, {s: [b for b in bars if b.day.isoformat() <= "2026-01-14"] for s, bars in _bars().items()})
    return folder


def _bars() -> dict[str, list[Bar]]:
    return history(WEEK + timedelta(days=10))  # to 2026-01-16


def _append_later_rows(folder: Path) -> None:
    for symbol, bars in _bars().items():
        later = [b for b in bars if b.day.isoformat() > "2026-01-14"]
        with (folder / f"{symbol}.csv").open("a") as file:
            file.writelines(f"{b.day},{b.open},{b.high},{b.low},{b.close},{int(b.volume)}\n" for b in later)


def _ids(tmp_path: Path, folder: Path) -> list[str]:
    path = tmp_path / "sweep.yaml"
    path.write_text("name: grow\n" + SWEEP)
    _, _, plans = prepare(Settings(), load_config(None), path, folder)
    return [p.run_id for p in plans]


def _edit(folder: Path, symbol: str, day: str) -> None:
    """The close of `symbol` on `day` raised by 0.1% (its high with it)."""
    file = folder / f"{symbol}.csv"
    lines = file.read_text().splitlines()
    for n, line in enumerate(lines):
        if line.startswith(f"{day},"):
            parts = line.split(",")
            parts[4] = str(round(float(parts[4]) * 1.001, 4))
            parts[2] = str(max(float(parts[2]), float(parts[4])))
            lines[n] = ",".join(parts)
    file.write_text("\n".join(lines) + "\n")


def test_rows_appended_after_what_a_run_reads_keep_its_id(tmp_path: Path, prices: Path) -> None:
    before = _ids(tmp_path, prices)
    _append_later_rows(prices)
    assert _ids(tmp_path, prices) == before


@pytest.mark.parametrize("day", ["2026-01-13", "2026-01-07", "2025-06-02"])  # its last session, inside, its history
def test_a_bar_a_run_reads_changed_makes_another_run(tmp_path: Path, prices: Path, day: str) -> None:
    before = _ids(tmp_path, prices)
    _edit(prices, "GLD", day)
    assert _ids(tmp_path, prices) != before


def test_a_file_the_backtest_would_refuse_or_that_ends_before_the_range_counts_whole(
    tmp_path: Path, prices: Path
) -> None:
    """A bad row after the range fails the backtest (it reads the whole file); a file with no row on the range's last
    session (a delisting, a download that missed it) is looked at past it: both count every row."""
    before = _ids(tmp_path, prices)
    with (prices / "SPY.csv").open("a") as file:
        file.write("2026-01-20,not,a,price,row,1\n")
    bad = _ids(tmp_path, prices)
    assert bad != before
    (prices / "SPY.csv").write_text("".join((prices / "SPY.csv").read_text().splitlines(keepends=True)[:-1]))
    assert _ids(tmp_path, prices) == before
    gld = prices / "GLD.csv"
    gld.write_text("".join(line for line in gld.read_text().splitlines(keepends=True) if line[:10] < "2026-01-13"))
    ended = _ids(tmp_path, prices)
    with gld.open("a") as file:
        file.write("2026-02-02,300,301,299,300.5,1000\n")  # after the range: read by the delisting's look
    assert _ids(tmp_path, prices) != ended


def test_a_run_an_earlier_build_recorded_under_the_whole_folders_hash_is_the_same_run(
    tmp_path: Path, prices: Path
) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("name: grow\n" + SWEEP)
    _, _, plans = prepare(Settings(), load_config(None), path, prices)
    digest = hashlib.sha256()
    for file in sorted(prices.glob("*.csv")):
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    plan = plans[0]
    whole = run_hash(plan.config, prices=f"csv:{digest.hexdigest()}", start=plan.start, end=plan.end, mode="offline")
    assert whole != plan.run_id and whole in plan.earlier_ids


def test_a_sweep_rerun_over_a_folder_that_only_grew_runs_nothing_again(
    cli_env: dict[str, str], tmp_path: Path, prices: Path
) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: g{uuid.uuid4().hex[:8]}\n" + SWEEP)
    first = runner.invoke(cli, ["backtest", "sweep", str(path), "--csv", str(prices), "--json"])
    assert first.exit_code == 0, first.output
    _append_later_rows(prices)
    again = runner.invoke(cli, ["backtest", "sweep", str(path), "--csv", str(prices), "--json"])
    assert again.exit_code == 0, again.output
    runs = json.loads(again.stdout[: again.stdout.rindex("}") + 1])["runs"]
    assert [r["status"] for r in runs] == ["done_earlier"]
