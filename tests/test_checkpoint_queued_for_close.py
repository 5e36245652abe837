"""A checkpoint after an order queued for the session's close says it waits for the close, not for the open.

In session, a symbol with daily prices only (a CSV folder without intraday files) is priced at its open and an order
sent then fills at the session's close (brokers/paper.py). The 14:00 and 15:50 checkpoints after a 10:00 weekly run or
a 12:00 checkpoint skip the account while it waits, and said "orders still queued for the open": the user read that
the order would fill tomorrow at 09:30, though it fills at 16:00 today.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_backtest_bad_start import _write, history

runner = CliRunner()


def test_a_checkpoint_skipping_an_account_whose_order_fills_at_the_close_names_the_close(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _write(tmp_path / "csv", history(date(2026, 1, 7)))  # daily rows only, through the session of the run
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "csv")
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(tmp_path / "csv"))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T10:00:00-05:00")  # in session: the weekly run's orders wait
    weekly = runner.invoke(app, ["run-weekly", "--json"])
    assert weekly.exit_code == 0, weekly.output
    assert "queued for 2026-01-07T16:00:00-05:00" in weekly.stdout  # the premise: they fill at today's close
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T14:00:00-05:00")
    done = runner.invoke(app, ["checkpoint", "14:00", "--json"])
    assert done.exit_code == 0, done.output
    reasons = {a["account_id"]: a["skipped"] for a in json.loads(done.stdout)["accounts"]}
    assert reasons["acct_1"] == (
        "orders still queued, not filled yet (one sent in session on a symbol with daily prices only fills at the "
        "session's close): nothing to judge yet"
    )
