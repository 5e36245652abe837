"""A live (paper) week on a CSV folder of daily files only: no `intraday/SYMBOL.csv`, and each day's row written after
its close, as a download script run in the evening leaves it. A new user's cron trial: every in-session checkpoint
waited all day for a price that could not come (exit 75 at every wake-up), then closed not judged past its deadline,
and `config validate` and `status` had said nothing of it.

The scripted week of tests/test_week_lifecycle.py, its intraday files taken away.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_week_lifecycle import week

__all__ = ["week"]

runner = CliRunner()


def daily_only(folder: Path, through: str) -> None:
    """`folder` as an evening download leaves it on the day after `through` (YYYY-MM-DD): its daily files' rows
    through that day, and no intraday file."""
    shutil.rmtree(folder / "intraday")
    for path in folder.glob("*.csv"):
        lines = path.read_text().splitlines()
        path.write_text("\n".join([lines[0], *(line for line in lines[1:] if line[:10] <= through)]) + "\n")


def test_config_validate_and_status_say_in_session_checkpoints_cannot_be_judged_on_daily_files_only(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    week  # noqa: B018
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    folder = tmp_path / "csv"
    checked = runner.invoke(app, ["config", "validate"])
    assert checked.exit_code == 0, checked.output
    assert "in-session checkpoints" not in checked.output  # intraday files: priced in session
    daily_only(folder, "2026-01-07")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T08:00:00-05:00")
    checked = runner.invoke(app, ["config", "validate"])
    assert checked.exit_code == 0, checked.output  # said, not refused
    assert "configuration OK" in checked.stdout
    [said] = [line for line in checked.stderr.splitlines() if "in-session checkpoints" in line]
    assert "in-session checkpoints (12:00, 14:00, 15:50) cannot be judged on the prices set" in said  # not 09:00
    assert f"the CSV folder {folder} has daily files only" in said
    assert "no provider prices a symbol of the universe in session" in said
    assert "intraday/SYMBOL.csv: Timestamp,Price" in said and "(alpaca, yfinance)" in said  # what mends it
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    assert said in status.stderr
