"""`status` lists llmtrade's orders the broker holds unfilled. A trial: at 15:55 a live CSV drill's status showed every
account's positions as "-" and said nothing of the five orders a 10:00 weekly run had queued for the 16:00 close (a
symbol with daily prices only is priced at its open in session, and an order sent then fills at the close)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_backtest_bad_start import _write, history

runner = CliRunner()


def _status(monkeypatch: pytest.MonkeyPatch, at: str, *args: str) -> str:
    monkeypatch.setenv("LLMTRADE_NOW", at)
    shown = runner.invoke(app, ["status", *args])
    assert shown.exit_code == 0, shown.output
    return shown.stdout


def test_status_lists_the_orders_not_filled_yet_and_none_once_they_fill(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _write(tmp_path / "csv", history(date(2026, 1, 7)))  # daily rows only, through the session of the run
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "csv")
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(tmp_path / "csv"))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T10:00:00-05:00")
    weekly = runner.invoke(app, ["run-weekly", "--json"])
    assert weekly.exit_code == 0, weekly.output
    sent = {(o["account_id"], o["client_order_id"]) for o in json.loads(weekly.stdout)["orders"]}
    assert sent  # the premise: the week's orders, queued for today's close
    before = json.loads(_status(monkeypatch, "2026-01-07T15:55:00-05:00", "--json"))
    waiting = {(a["account_id"], o["client_order_id"]) for a in before["accounts"] for o in a["open_orders"]}
    assert waiting == sent
    assert all(not a["positions"] for a in before["accounts"])
    text = " ".join(_status(monkeypatch, "2026-01-07T15:55:00-05:00").split())
    assert "orders not filled yet" in text and next(iter(sent))[1] in text
    after = json.loads(_status(monkeypatch, "2026-01-07T16:05:00-05:00", "--json"))
    assert all(not a["open_orders"] for a in after["accounts"])
    assert {a["account_id"] for a in after["accounts"] if a["positions"]} == {account for account, _ in sent}
    assert "orders not filled yet" not in _status(monkeypatch, "2026-01-07T16:05:00-05:00")
