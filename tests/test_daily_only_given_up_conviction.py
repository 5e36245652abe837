"""A checkpoint whose decided orders were given up whole (a CSV folder of daily files only: no price in session for
them, checkpoint_unpriced.py `not_sent`) left the account holding what it held before, yet the next checkpoint read
that checkpoint's conviction_after as the account's conviction now (workflows/convictions.py): acct_2's given-up FLIP
(+2 to -1) was asked as "at conviction +1" (the position's side, as `_prepare` falls back to when the sign disagrees),
acct_3's given-up REDUCE (+2 to +1) as "+1", a full position asked at half conviction. A conviction whose orders were
all given up does not stand: the one before it does (here Wednesday's, +2), matching what the account holds."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.workflows.checkpoint_trade import ExecuteStage
from tests.support import stored_events
from tests.test_checkpoint_stages import _killed
from tests.test_daily_only_checkpoints import daily_only
from tests.test_week_lifecycle import CHECKPOINT_ANSWERS, week, write_intraday

__all__ = ["week"]

runner = CliRunner()
HELD = {"acct_2": "TLT", "acct_3": "GLD"}  # each account's week trade, still held long


def _prompts(fake: Any, since: int) -> list[str]:
    """The user prompt of each checkpoint question asked after request `since`."""
    return [
        next(m["content"] for m in body["messages"] if m["role"] == "user")
        for body in fake.requests[since:]
        if body.get("response_format", {}).get("json_schema", {}).get("name") == "CheckpointDecision"
    ]


def test_the_checkpoint_after_one_whose_orders_were_given_up_whole_reads_the_conviction_before_it(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake, url, closes = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ExecuteStage, "run", _killed)  # decided, nothing sent
        assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code != 0
    folder = tmp_path / "csv"
    daily_only(folder, "2026-01-06")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:05:00-05:00")
    assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code == 0
    gone = {e.account_id: e.payload for e in stored_events(url, type="PlanAbandoned")}
    assert all(gone[a]["whole_plan"] for a in HELD), gone  # the premise: the FLIP and the REDUCE given up whole
    noon = {
        e.account_id: e.payload["checkpoint"]["conviction_after"] for e in stored_events(url, type="CheckpointTaken")
    }
    assert noon["acct_2"] == -1 and noon["acct_3"] == 1

    for symbol in ("SPY", "TLT", "GLD", "QQQ"):
        write_intraday(folder, symbol, {date(2026, 1, 7): closes[symbol]})
    # acct_1's exit given up too: its owner is asked at 14:00, the stop no longer deciding (its week's SPY is held)
    stay = {"action": "STAY", "conviction_after": 1, "reason_delta": "nothing changed"}
    monkeypatch.setitem(CHECKPOINT_ANSWERS, "openai/gpt-5.1", stay)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T14:00:00-05:00")
    since = len(fake.requests)
    later = runner.invoke(app, ["checkpoint", "14:00"])
    assert later.exit_code == 0, later.output

    prompts = _prompts(fake, since)
    for account, symbol in HELD.items():
        [asked] = [p for p in prompts if f"Position: LONG {symbol} at conviction" in p]
        assert f"Position: LONG {symbol} at conviction 2;" in asked, (account, asked)
