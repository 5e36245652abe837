"""`status` in a session values what an account bought since the last close at the price it paid, not at that close:
a new user saw a "week P/L" of -25.34 for a week with no close yet, and a drawdown and hit rate unlike the
leaderboard's under the same "valued at the close of" heading (app/queries.py `Marks`)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()


def test_positions_opened_at_todays_open_are_valued_at_their_fill_so_the_first_week_has_no_pl_yet(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0  # 08:00: orders queued for the 09:30 open
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T15:00:00-05:00")  # the session's open has filled them
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.stdout)
    assert status["valued_at"] == "2026-01-06"  # the last close: the day's own comes at 16:00
    holding = [a for a in status["accounts"] if a["positions"]]
    assert holding  # filled at the open, as status's look at the paper broker sees (a read: nothing recorded)
    # Nothing held before this week: each position is worth what was paid for it until a close says otherwise.
    assert [(a["account_id"], a["week_pnl"]) for a in holding] == [(a["account_id"], 0.0) for a in holding]
