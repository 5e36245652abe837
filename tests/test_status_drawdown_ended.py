"""`status`'s max drawdown of an account holding a symbol whose prices ended (its CSV file no longer written, a ticker
delisted or renamed): the account is valued at that symbol's last close, as the leaderboard marks it, and its drawdown
is the leaderboard's over the same closes. Before, status valued it at its last close but showed no drawdown ("max
drawdown not shown: it held GLD at the close of 2026-01-07, and that close is missing"): the closes after its last bar
were taken for a gap to mend, and the feed's bars to its last one were never read.

The scripted week of tests/test_week_lifecycle.py on its CSV market: acct_3 holds GLD from Wednesday's open; GLD.csv
stops after that Wednesday.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_checkpoint_prices_ended import _gld_ends_wednesday
from tests.test_week_lifecycle import week

__all__ = ["week"]

runner = CliRunner()


def test_status_shows_the_leaderboards_drawdown_for_an_account_holding_a_symbol_whose_prices_ended(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    week  # noqa: B018
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _gld_ends_wednesday(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    assert runner.invoke(app, ["-q", "postmortem"]).exit_code == 0  # the leaderboard's books end at Tuesday's close
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.stdout)
    assert status["at_last_close"] == {"GLD": "2026-01-07"}
    assert not [w for w in status["warnings"] if "max drawdown not shown" in w], status["warnings"]
    board = runner.invoke(app, ["leaderboard", "--json"])
    assert board.exit_code == 0, board.output
    standings = {s["name"]: s for s in json.loads(board.stdout)["standings"]}
    assert standings["acct_3"]["max_drawdown"] is not None
    assert json.loads(board.stdout)["end"] == "2026-01-13"
    for account in status["accounts"]:
        if account["account_id"] not in standings:
            continue
        expected = standings[account["account_id"]]["max_drawdown"]
        assert account["max_drawdown"] == pytest.approx(expected, abs=1e-6), account["account_id"]  # cents
    [acct_3] = [a for a in status["accounts"] if a["account_id"] == "acct_3"]
    assert [p["symbol"] for p in acct_3["positions"] if p["qty"]] == ["GLD"]
