"""A checkpoint's flip killed after its close was sent and before its opening order was, rerun on a CSV folder of daily
files only: the opening order is given up (after asking the broker), the close stands, and nothing later sends the
opening order -- a repeat of the checkpoint that finds prices, nor the next checkpoint, which finds the account flat."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.storage.event_store import EventStore
from tests.support import stored_events
from tests.test_daily_only_checkpoints import daily_only
from tests.test_week_lifecycle import week, write_intraday

__all__ = ["week"]

runner = CliRunner()


def _submitted(url: str, account: str) -> list[dict[str, Any]]:
    return [
        e.payload["order"]
        for e in stored_events(url, type="OrderSubmitted")
        if e.account_id == account and "T1200" in e.payload["order"]["client_order_id"]
    ]


def test_a_flip_whose_close_went_before_a_crash_gives_up_its_open_alone_and_never_sends_it(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, url, closes = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    append = EventStore.append

    def dying(self: EventStore, events: Any, *args: Any, **kwargs: Any) -> Any:
        result = append(self, events, *args, **kwargs)
        for e in events:
            if e.type == "OrderSubmitted" and e.account_id == "acct_2" and e.payload["order"]["intent"] == "close":
                raise KeyboardInterrupt  # killed once acct_2's close is recorded
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EventStore, "append", dying)
        assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code != 0
    [close] = _submitted(url, "acct_2")
    assert close["intent"] == "close"
    [plan] = [
        e.payload["orders"]
        for e in stored_events(url, type="OrdersPlanned")
        if ":checkpoint:" in e.stream and e.account_id == "acct_2"
    ]
    [opening] = [o["client_order_id"] for o in plan if o["intent"] == "open"]

    folder = tmp_path / "csv"
    daily_only(folder, "2026-01-06")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:05:00-05:00")
    rerun = runner.invoke(app, ["checkpoint", "12:00"])
    assert rerun.exit_code == 0, rerun.output
    [gone] = [e.payload for e in stored_events(url, type="PlanAbandoned") if e.account_id == "acct_2"]
    assert gone["client_order_ids"] == [opening] and not gone["whole_plan"]
    assert [o["client_order_id"] for o in _submitted(url, "acct_2")] == [close["client_order_id"]]

    for symbol in ("SPY", "TLT", "GLD", "QQQ"):
        write_intraday(folder, symbol, {date(2026, 1, 7): closes[symbol]})
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:20:00-05:00")
    assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T14:00:00-05:00")
    later = runner.invoke(app, ["checkpoint", "14:00", "--json"])
    assert later.exit_code == 0, later.output
    [mine] = [a for a in json.loads(later.stdout)["accounts"] if a["account_id"] == "acct_2"]
    assert mine["skipped"] == "flat: no TLT position held", mine  # the state the next checkpoint meets: flat
    sent = [e.payload["order"]["client_order_id"] for e in stored_events(url, type="OrderSubmitted")]
    assert opening not in sent
    assert len([e for e in stored_events(url, type="PlanAbandoned") if e.account_id == "acct_2"]) == 1
