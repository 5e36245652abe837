"""A checkpoint's EXIT whose orders were all given up (a CSV folder of daily files only: no price in session for them,
checkpoint_unpriced.py `not_sent`) left the account holding its position, yet the event checkpoints read the stored
EXIT as the account's last word (event_checkpoint.py `reference_price`: "exited, nothing to re-judge") and watched it no
more: a position still held, its move unwatched until the next scheduled checkpoint. The stored CheckpointTaken keeps
what was judged; what reads it as what the account holds now skips one that was never traded, as the conviction's
lookup does (workflows/convictions.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from llmtrade.workflows.checkpoint_trade import ExecuteStage
from llmtrade.workflows.event_checkpoint import reference_price
from tests.support import FIXED_NOW, stored_events
from tests.test_checkpoint_stages import _killed
from tests.test_daily_only_checkpoints import daily_only
from tests.test_week_lifecycle import week

__all__ = ["week"]

runner = CliRunner()


def test_a_position_whose_exit_was_given_up_is_still_watched_by_the_event_checkpoints(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ExecuteStage, "run", _killed)  # decided, nothing sent
        assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code != 0
    daily_only(tmp_path / "csv", "2026-01-06")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:05:00-05:00")
    assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code == 0

    taken = {e.account_id: e.payload["checkpoint"] for e in stored_events(url, type="CheckpointTaken")}
    gone = {e.account_id: e.payload for e in stored_events(url, type="PlanAbandoned")}
    assert taken["acct_1"]["action"] == "EXIT" and gone["acct_1"]["whole_plan"]  # the premise: an EXIT given up whole
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        watched = reference_price(storage.events, date.fromisoformat(taken["acct_1"]["week_id"]), "acct_1")

    assert watched is not None  # before: None, the position held and watched no more
    assert watched.symbol == taken["acct_1"]["instrument"]
    assert watched.price == taken["acct_1"]["indicators_snapshot"]["close"]  # the price it was judged at
