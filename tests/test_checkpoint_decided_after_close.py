"""A checkpoint whose owners are still answering when the session closes: begun at 15:59:58 on the machine's moving
clock, its judgements come back after 16:00. Decided then, they were traded after the close (paper orders queued for
the next open, Alpaca's alike) at the prices of before it: they are not traded now, as a kept judgement past its
deadline is not (STALE), and the next checkpoint judges at its own prices. Models scripted at the HTTP transport;
prices from CSV, as tests/test_checkpoint_stages.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import llmtrade.clock
from llmtrade.cli import app
from llmtrade.market.calendar import NEW_YORK
from tests.fakes.running_clock import RunningClock
from tests.support import going_live, stored_events
from tests.test_week_lifecycle import scripted, write_market

runner = CliRunner()


def test_judgements_answered_after_the_close_are_not_traded(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    closes = write_market(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    answer = scripted(closes)
    clocks: list[RunningClock] = []
    asked: list[str] = []

    def slow(body: dict[str, Any]) -> dict[str, Any]:
        if body.get("response_format", {}).get("json_schema", {}).get("name") == "CheckpointDecision" and not asked:
            asked.append(body["model"])
            clocks[0].advance(timedelta(seconds=15))  # the owners take their time: it is past 16:00 from here
        return answer(body)

    with going_live(monkeypatch, slow, market=tmp_path / "csv"):
        assert runner.invoke(app, ["run-weekly"]).exit_code == 0
        url = cli_env["DATABASE_URL"]
        plans = len(stored_events(url, type="OrdersPlanned"))
        monkeypatch.delenv("LLMTRADE_NOW")
        monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", "0")  # the database server's clock is today's
        clock = RunningClock(datetime(2026, 1, 7, 15, 59, 58, tzinfo=NEW_YORK))  # started now: the wall moves on
        clocks.append(clock)
        monkeypatch.setattr(llmtrade.clock, "make_clock", lambda fixed: clock)
        late = runner.invoke(app, ["checkpoint", "15:50"])

    assert late.exit_code == 0, late.output
    assert asked, "the owners were asked"
    verdicts = [e.payload["verdict"] for e in stored_events(url, type="RiskChecked")]
    stale = [v for v in verdicts if v["reason"].startswith("STALE")]
    assert stale and all(not v["approved"] and "16:00" in v["reason"] for v in stale), verdicts[-6:]
    new_plans = stored_events(url, type="OrdersPlanned")[plans:]
    assert not [p for p in new_plans if p.payload["orders"]]
    assert stored_events(url, type="PaperOrderAccepted", limit=None)[-1].occurred_at < clock.now() - timedelta(
        seconds=10
    )  # the weekly run's, none after the close


def test_a_dry_run_after_the_close_still_shows_what_its_judgements_would_trade(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A dry run is allowed after the close (a preview of the day's last checkpoint): nothing is sent, so its judgements
    # are shown sized as for real, not decided STALE for the hour it was asked at.
    closes = write_market(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    with going_live(monkeypatch, scripted(closes), market=tmp_path / "csv"):
        assert runner.invoke(app, ["run-weekly"]).exit_code == 0
        monkeypatch.delenv("LLMTRADE_NOW")
        monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", "0")
        clock = RunningClock(datetime(2026, 1, 7, 17, 0, tzinfo=NEW_YORK))
        monkeypatch.setattr(llmtrade.clock, "make_clock", lambda fixed: clock)
        preview = runner.invoke(app, ["checkpoint", "15:50", "--dry-run"])

    assert preview.exit_code == 0, preview.output
    assert "STALE" not in preview.stdout
    rows = {line.split("\t")[0]: line.split("\t") for line in preview.stdout.splitlines() if line.startswith("acct_")}
    assert rows["acct_2"][2] == "FLIP" and rows["acct_2"][-1] == "sell 110 TLT; sell 55 TLT"  # sized, as for real
