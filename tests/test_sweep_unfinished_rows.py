"""A sweep's runs leave out a daily row written before its session closed, as `llmtrade backtest` does.

A backtest judges a CSV file's last rows by the file's modification time (market/csv_unfinished.py): exported while
the range's last session traded, the row is no final bar and the backtest stops, temporary (exit 75). A sweep shipped
its workers the files' bytes alone, each worker wrote them into a copy of its own, modified when written, so the run
took the unfinished row as the session's bar and finished on it: other books than the backtest's, silently. The files'
modification times now travel with their bytes and are set on the workers' copies.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.clock import SystemClock
from llmtrade.domain.market import Bar
from llmtrade.market.calendar import NEW_YORK
from tests.test_backtest_bad_start import WEEK, _write, history

runner = CliRunner()
LAST = WEEK.replace(day=13)  # the last session the week of 2026-01-07's jobs read (the last at 16:30 that Tuesday)
SWEEP = "retries: 0\nranges: [{from: 2026-01-07, to: 2026-01-07}]\n"


@pytest.fixture(autouse=True)
def _machine_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's clock on LAST's evening: its file maybe exported again (a row of a session long closed is the
    file's to mend, exit 2: tests/test_unfinished_rows_stale.py)."""
    monkeypatch.setattr(SystemClock, "now", lambda self: datetime.combine(LAST, time(16, 30), NEW_YORK))


def _prices(tmp_path: Path, written: time) -> Path:
    """Daily files to LAST, SPY.csv's modification time set to LAST at `written` (New York)."""
    folder = tmp_path / "prices"
    bars: dict[str, list[Bar]] = {s: [b for b in rows if b.day <= LAST] for s, rows in history(LAST).items()}
    _write(folder, bars)
    at = datetime.combine(LAST, written, NEW_YORK).timestamp()
    os.utime(folder / "SPY.csv", (at, at))
    return folder


def _sweep(tmp_path: Path, prices: Path) -> tuple[int, str, list[dict[str, object]]]:
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: u{uuid.uuid4().hex[:8]}\n" + SWEEP)
    result = runner.invoke(cli, ["backtest", "sweep", str(path), "--csv", str(prices), "--json"])
    runs = json.loads(result.stdout[: result.stdout.rindex("}") + 1])["runs"] if "{" in result.stdout else []
    return result.exit_code, " ".join(result.output.split()), runs


def test_a_sweep_run_is_refused_as_the_backtest_is_for_a_row_written_before_its_session_closed(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    prices = _prices(tmp_path, time(14, 2))
    args = ["--from", "2026-01-07", "--to", "2026-01-07", "--offline", "--csv", str(prices)]
    alone = runner.invoke(cli, ["backtest", *args, "--name", f"p{uuid.uuid4().hex[:8]}"])
    assert alone.exit_code == 75, alone.output
    said = f"no final row of {LAST} in {prices / 'SPY.csv'} yet: it was written at {LAST} 14:02:00 New York"
    assert said in " ".join(alone.output.split()), alone.output

    code, output, runs = _sweep(tmp_path, prices)
    assert code == 75, output[-2000:]
    assert [run["status"] for run in runs] == ["failed"], runs
    assert said in " ".join(str(runs[0]["error"]).split()), runs  # the user's file, not the worker's copy of it


def test_the_same_bytes_written_again_after_the_close_are_swept(cli_env: dict[str, str], tmp_path: Path) -> None:
    """The file touched after the close (its bytes unchanged): a run of it finishes, as the backtest would."""
    prices = _prices(tmp_path, time(14, 2))
    code, output, _ = _sweep(tmp_path, prices)
    assert code == 75, output[-2000:]
    at = datetime.combine(LAST, time(16, 20), NEW_YORK).timestamp()
    os.utime(prices / "SPY.csv", (at, at))
    code, output, runs = _sweep(tmp_path, prices)
    assert code == 0, output[-2000:]
    assert [run["status"] for run in runs] == ["finished"], runs
