"""A sweep refuses before any run starts what `llmtrade backtest` refuses at its start about its prices, for each run
on its own config: a universe symbol with no file in the folder, a bad row, a benchmark whose prices end inside the
range. Each run failed on it alone, after the sweep's database, its workers and the run's own database were made
("4 of 4 runs failed"), where the backtest stops before its first week, naming the file.

No database: the check comes before any is reached (DATABASE_URL names a server that is not there: exit 75 if one
were asked)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.config.loader import load_config
from tests.test_backtest_bad_start import WEEK, _write, history

runner = CliRunner()
NOWHERE = {"DATABASE_URL": "postgresql://x@127.0.0.1:1/n"}
RANGE = "ranges: [{from: 2026-01-07, to: 2026-01-07}]\n"


@pytest.fixture(autouse=True)
def _no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmtrade.sweep import work

    def started(plan: object, shared: object) -> dict[str, object]:
        raise AssertionError("a run started")

    monkeypatch.setattr(work, "_backtest", started)


def _sweep(tmp_path: Path, axes: str = "memory: [true, false]\n") -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: w{uuid.uuid4().hex[:8]}\nretries: 0\n{RANGE}{axes}")
    return path


def _refused(path: Path, prices: Path) -> str:
    result = runner.invoke(cli, ["backtest", "sweep", str(path), "--csv", str(prices)], env=NOWHERE)
    assert result.exit_code == 2, result.output
    return " ".join(result.stderr.split())


def test_a_universe_symbol_without_a_file_is_refused_before_any_run(tmp_path: Path) -> None:
    prices = tmp_path / "prices"
    _write(prices, {s: rows for s, rows in history(WEEK + timedelta(days=10)).items() if s not in ("IWM", "GLD")})
    path = _sweep(tmp_path)
    said = _refused(path, prices)
    assert said.startswith(f"error: sweep file {path}: key ranges.0 (the runs range=2026-01-07..2026-01-07): "), said
    assert f"csv folder {prices} (--csv) has no file for IWM, GLD" in said, said
    assert "runs failed" not in said, said


def test_each_run_is_checked_on_its_own_universe(tmp_path: Path) -> None:
    """An override that leaves the symbol out reads no file of it: only the runs that keep it are refused, named."""
    prices = tmp_path / "prices"
    _write(prices, {s: rows for s, rows in history(WEEK + timedelta(days=10)).items() if s != "IWM"})
    kept = [i.model_dump(mode="json") for i in load_config(None).config.assets.universe if i.symbol != "IWM"]
    cut = f"overrides: {{base: {{}}, cut: {{assets.universe: {kept}}}}}\n"
    path = _sweep(tmp_path, cut + "memory: [true, false]\n")
    said = _refused(path, prices)
    runs = "overrides=base models=config memory=on seed=config range=2026-01-07..2026-01-07; overrides=base "
    assert f"key ranges.0 (the runs {runs}" in said, said
    assert "has no file for IWM" in said and "overrides=cut" not in said, said
    # Every run cutting it: nothing to refuse, the sweep goes on to its database (not there here: exit 75).
    path = _sweep(tmp_path, f"overrides: {{cut: {{assets.universe: {kept}}}}}\n")
    result = runner.invoke(cli, ["backtest", "sweep", str(path), "--csv", str(prices)], env=NOWHERE)
    assert result.exit_code == 75, result.output


def test_a_bad_row_is_refused_before_any_run_naming_the_file_and_line(tmp_path: Path) -> None:
    prices = tmp_path / "prices"
    _write(prices, history(WEEK + timedelta(days=10)), bad="TLT")
    said = _refused(_sweep(tmp_path), prices)
    assert "(the runs range=2026-01-07..2026-01-07)" in said, said
    assert f"{prices / 'TLT.csv'}" in said and "line" in said, said


def test_a_benchmark_ending_inside_the_range_is_refused_before_any_run_in_the_sweeps_terms(tmp_path: Path) -> None:
    prices = tmp_path / "prices"
    _write(prices, history(WEEK + timedelta(days=10)))  # every file ends on 2026-01-16
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: w{uuid.uuid4().hex[:8]}\nranges: [{{from: 2026-01-07, to: 2026-02-04}}]\n")
    said = _refused(path, prices)
    assert "(the runs range=2026-01-07..2026-02-04)" in said, said
    assert "end the range with to: 2026-01-07 in the sweep file's range" in said and "--to" not in said, said


def test_an_intraday_file_the_backtest_refuses_is_refused_before_any_run(tmp_path: Path) -> None:
    prices = tmp_path / "prices"
    _write(prices, history(WEEK + timedelta(days=10)))
    (prices / "intraday").mkdir()
    (prices / "intraday" / "SPY.csv").write_text("timestamp,price\n2026-01-10T15:00:00Z,500\n")  # a Saturday
    said = _refused(_sweep(tmp_path), prices)
    assert "(the runs range=2026-01-07..2026-01-07)" in said, said
    assert f"{prices / 'intraday' / 'SPY.csv'}, line 2" in said and "not an NYSE session" in said, said


def test_a_file_that_is_no_file_is_refused_only_when_a_run_reads_it(tmp_path: Path) -> None:
    """The check of the files shipped to the workers read the config's universe, not each run's: a folder GLD.csv
    refused a sweep whose every run leaves GLD out. One that some runs read is said with them."""
    prices = tmp_path / "prices"
    _write(prices, {s: rows for s, rows in history(WEEK + timedelta(days=10)).items() if s != "GLD"})
    (prices / "GLD.csv").mkdir()
    kept = [i.model_dump(mode="json") for i in load_config(None).config.assets.universe if i.symbol != "GLD"]
    path = _sweep(tmp_path, f"overrides: {{cut: {{assets.universe: {kept}}}}}\n")
    result = runner.invoke(cli, ["backtest", "sweep", str(path), "--csv", str(prices)], env=NOWHERE)
    assert result.exit_code == 75, result.output  # no run reads GLD: on to the database (not there here)
    path = _sweep(tmp_path, f"overrides: {{base: {{}}, cut: {{assets.universe: {kept}}}}}\n")
    said = _refused(path, prices)
    run = "overrides=base models=config memory=config seed=config range=2026-01-07..2026-01-07"
    assert said.startswith(f"error: prices folder {prices}: GLD.csv is a folder, not a file (read by the run {run}):")
    assert "overrides=cut" not in said, said
