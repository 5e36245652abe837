"""`status` in a session values what an account bought since the last close at the price it paid, not at that close:
a new user saw a "week P/L" of -25.34 for a week with no close yet, and a drawdown and hit rate unlike the
leaderboard's under the same "valued at the close of" heading (app/queries.py `Marks`)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.synthetic import SyntheticMarket

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


@pytest.mark.parametrize(("hhmm", "valued_at"), [("16:05", "2026-01-06"), ("16:20", "2026-01-07")])
def test_status_before_the_days_bar_is_final_values_at_the_close_before_and_says_why(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, hhmm: str, valued_at: str
) -> None:
    """Between the close and the minute a provider's bar of the day is final (Alpaca's SIP feed: 16:16) the market
    service takes no bar of it and, no provider left, the read is temporary (exit 75): a job waits. `status` run by
    hand then said "prices unavailable" and valued every position at cost; it values at the session before's closes
    now, and says why. From 16:16 it values at the day's own."""
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0  # 08:00: the bars to Tuesday's close are cached
    now = datetime.fromisoformat(f"2026-01-07T{hhmm}:00-05:00")
    monkeypatch.setenv("LLMTRADE_NOW", now.isoformat())
    # The offline market's bar of a session is final when SIP's is (alpaca_data.py `incomplete`, on the sip feed).
    sip = SimpleNamespace(feed="sip", clock=FixedClock(now), waits=SimpleNamespace(wall=now.timestamp))
    monkeypatch.setattr(SyntheticMarket, "incomplete", lambda self, close: AlpacaBarProvider.incomplete(sip, close))
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.stdout)
    assert status["valued_at"] == valued_at
    assert not [w for w in status["warnings"] if "at cost" in w or "max drawdown" in w]
    assert all(a["max_drawdown"] is not None for a in status["accounts"])
    if valued_at == "2026-01-07":
        assert status["valued_note"] is None
        return
    assert status["valued_note"] == (
        "2026-01-07's close is not final yet (synthetic has no complete bar of 2026-01-07 yet: the sip feed is asked "
        "up to 16 minutes before now (the free plan refuses the latest 15): to 2026-01-07 15:49 New York, before the "
        "16:00 close; complete from 16:16)"
    )
    plain = runner.invoke(app, ["status"])
    assert plain.exit_code == 0, plain.output
    assert f"valued at the close of 2026-01-06: {status['valued_note']}" in " ".join(plain.stdout.split())


def test_status_on_a_past_sessions_clock_just_after_its_close_values_at_that_close(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LLMTRADE_NOW at 16:05 of a session the real world is long past: its bar was judged on that clock, never 16
    minutes past the close, so status valued at the session before for good (and a job waited, exit 75, for ever).
    The real clock (the machine's, months on) says the bar is final: valued at that close."""
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    now = datetime.fromisoformat("2026-01-07T16:05:00-05:00")
    monkeypatch.setenv("LLMTRADE_NOW", now.isoformat())
    sip = SimpleNamespace(feed="sip", clock=FixedClock(now), waits=SimpleNamespace(wall=time.time))
    monkeypatch.setattr(SyntheticMarket, "incomplete", lambda self, close: AlpacaBarProvider.incomplete(sip, close))
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.stdout)
    assert (status["valued_at"], status["valued_note"]) == ("2026-01-07", None)
