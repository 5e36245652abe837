"""The copy of a CSV sweep's prices its workers write under the system's temporary folder is removed when the sweep
ends, finished or stopped, unless another sweep of the same prices runs still (sweep/price_copies.py).

Found by a tester: /tmp/llmtrade-sweep-prices held one copy of the whole price folder per sweep of new prices ever
run, none ever removed."""

from __future__ import annotations

import random
import string
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.config.loader import load_config
from llmtrade.settings import Settings
from llmtrade.sweep import work
from llmtrade.sweep.driver import prepare
from llmtrade.sweep.price_copies import copy_held
from llmtrade.sweep.work import Shared, copy_path

runner = CliRunner()


@pytest.fixture
def sweep(tmp_path: Path) -> tuple[Path, Path, Shared]:
    """A one-week CSV sweep (its file, its prices) and what its driver ships: prices of this test's own (a file no
    other test's folder has), so the copy is this test's alone."""
    from tests.test_backtest_bad_start import WEEK, _write, history

    prices = tmp_path / "prices"
    _write(prices, history(WEEK + timedelta(days=10)))
    mark = "".join(random.choices(string.ascii_uppercase, k=5))
    (prices / f"{mark}.csv").write_bytes((prices / "SPY.csv").read_bytes())
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: c{uuid.uuid4().hex[:8]}\nretries: 0\nranges: [{{from: 2026-01-07, to: 2026-01-07}}]\n")
    _, shared, _ = prepare(Settings(), load_config(None), path, prices)
    return path, prices, shared


def test_a_finished_sweep_removes_its_workers_copy_of_the_prices(
    cli_env: dict[str, str], sweep: tuple[Path, Path, Shared]
) -> None:
    path, prices, shared = sweep
    result = runner.invoke(cli, ["backtest", "sweep", str(path), "--csv", str(prices)])
    assert result.exit_code == 0, result.output
    folder = copy_path(shared.prices_hash)
    assert not folder.exists() and not folder.with_name(f".{folder.name}.lock").exists()


def test_a_copy_another_sweep_uses_is_left_to_it_and_removed_when_that_one_ends(
    cli_env: dict[str, str], sweep: tuple[Path, Path, Shared]
) -> None:
    path, prices, shared = sweep
    folder = copy_path(shared.prices_hash)
    with copy_held(shared):  # another sweep of the same prices, running while this one starts and ends
        result = runner.invoke(cli, ["backtest", "sweep", str(path), "--csv", str(prices)])
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in folder.iterdir()) == sorted(shared.prices or {})
    assert not folder.exists()


def test_a_stopped_sweep_removes_its_copy_too(
    cli_env: dict[str, str], sweep: tuple[Path, Path, Shared], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, prices, shared = sweep

    def stopped(plan: Any, shared: Shared) -> Any:
        assert work.prices_folder(shared) is not None  # the copy written, then Ctrl-C in the run
        raise KeyboardInterrupt

    monkeypatch.setattr(work, "_backtest", stopped)
    result = runner.invoke(cli, ["backtest", "sweep", str(path), "--csv", str(prices)])
    assert result.exit_code == 130, result.output
    assert not copy_path(shared.prices_hash).exists()


def _aged(folder: Path, seconds: float) -> None:
    """`folder` and its files last written `seconds` ago."""
    import os
    import time

    then = time.time() - seconds
    for file in folder.iterdir():
        os.utime(file, (then, then))
    os.utime(folder, (then, then))


def test_a_staging_folder_a_killed_worker_left_is_removed_when_a_sweep_starts_and_ends(
    sweep: tuple[Path, Path, Shared], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed while it wrote its copy (`kill -9`, the OOM killer) left its `.staging-*` folder, a part of the
    prices folder, beside the copies: nothing ever removed it. A sweep's start and end now remove one no live process
    writes that has not changed for minutes; a fresh one is left (a worker may be writing it)."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    _, _, shared = sweep
    root = copy_path(shared.prices_hash).parent
    left = root / ".staging-killed1"
    left.mkdir(parents=True)
    (left / "SPY.csv").write_text("Date,Open,High,Low,Close,Volume\n")
    _aged(left, 3600)
    fresh = root / ".staging-fresh01"
    fresh.mkdir()
    (fresh / "SPY.csv").write_text("Date,Open,High,Low,Close,Volume\n")
    with copy_held(shared):
        assert not left.exists()  # at the start
        later = root / ".staging-killed2"
        later.mkdir()
        _aged(later, 3600)
    assert not later.exists()  # at the end
    assert fresh.exists()


def test_a_staging_folder_a_live_worker_writes_is_never_removed(
    sweep: tuple[Path, Path, Shared], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However old its files look (a worker stalled, a clock changed), a staging folder its writer still holds stays."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    _, _, shared = sweep
    root = copy_path(shared.prices_hash).parent
    root.mkdir(parents=True)
    with work.staging(root) as writing:
        (writing / "SPY.csv").write_text("Date,Open,High,Low,Close,Volume\n")
        _aged(writing, 3600)
        with copy_held(shared):
            pass
        assert (writing / "SPY.csv").exists()
