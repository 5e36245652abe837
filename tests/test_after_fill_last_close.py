"""A valuation written after a fill (the breaker sees each trade before the next order) values a held symbol whose
prices ended (its CSV file no longer written, a ticker delisted or renamed) at its last close, as the week start,
status, the postmortem and the leaderboard do (AccountValued.at_last_close). It valued it at its cost: at the same
instant as the week start, two equities of one account, the breaker shown the one at cost.

The scripted week of tests/test_week_lifecycle.py on its CSV market: acct_3 holds GLD from Wednesday's open; GLD.csv
stops after that Wednesday and GLD stays in assets.yaml's universe (the week's snapshot leaves it out).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests import test_week_lifecycle as lifecycle
from tests.support import stored_events
from tests.test_checkpoint_prices_ended import _gld_ends_wednesday
from tests.test_paper_order_prices_ended import _a_week_more_but_gld
from tests.test_week_lifecycle import week

__all__ = ["week"]

runner = CliRunner()


def test_a_valuation_after_a_fill_values_a_held_symbol_whose_prices_ended_at_its_last_close(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Run in session, the week's orders fill at once and each account is valued after its fill (the breaker sees the
    trade). The week start valued acct_3's GLD at its last close; the valuation after its fill, at the same instant,
    valued it at cost: two equities of one account at one instant, the breaker shown the one at cost."""
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _a_week_more_but_gld(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    assert runner.invoke(app, ["-q", "postmortem"]).exit_code == 0
    monkeypatch.setitem(lifecycle.PITCHES, "anthropic/claude-sonnet-4.5", ("TLT", 2))  # acct_3's trade of the week
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T10:00:00-05:00")
    result = runner.invoke(app, ["-q", "run-weekly"])
    assert result.exit_code == 0, result.output
    valued = [
        e.payload
        for e in stored_events(url, type="AccountValued")
        if e.account_id == "acct_3" and e.week_id.isoformat() == "2026-01-14"
    ]
    [start] = [v for v in valued if v["occasion"] == "week start"]
    after = [v for v in valued if v["occasion"] == "after fill"]
    assert after, valued  # acct_3's orders filled in session
    assert start["at_last_close"] == {"GLD": "2026-01-07"}
    for one in after:
        assert one["at_last_close"] == {"GLD": "2026-01-07"} and "GLD" not in one.get("at_cost", []), one
    # The equity after the fill is the week start's less what the fill cost (the paper broker's slippage on TLT),
    # not moved by GLD's difference from its cost.
    [tlt] = [
        e.payload["fill"]
        for e in stored_events(url, type="OrderFilled")
        if e.account_id == "acct_3" and e.payload["fill"]["symbol"] == "TLT"
    ]
    [gld] = [
        e.payload["fill"]
        for e in stored_events(url, type="OrderFilled")
        if e.account_id == "acct_3" and e.payload["fill"]["symbol"] == "GLD"
    ]
    slippage = abs(tlt["price"] - lifecycle_close(tmp_path, "TLT", "2026-01-13")) * tlt["qty"]
    assert after[-1]["equity"] == pytest.approx(start["equity"] - slippage, abs=0.02), (start, after, gld)


def lifecycle_close(tmp_path: Path, symbol: str, day: str) -> float:
    """`symbol`'s close of `day` in the test's CSV folder."""
    lines = (tmp_path / "csv" / f"{symbol}.csv").read_text().splitlines()
    [row] = [line.split(",") for line in lines[1:] if line.startswith(day)]
    return float(row[4])


def test_a_checkpoint_resending_a_held_back_leg_values_a_held_symbol_whose_prices_ended_at_its_last_close(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A checkpoint skips acct_3 (it holds GLD, whose prices ended: nothing to judge it by) but still sends its
    week's opening leg held back for its close (a side change in TLT) once the close has filled; the valuation after
    that fill valued GLD at cost, where the week start had valued it at its last close."""
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _a_week_more_but_gld(tmp_path / "csv", (14, 15, 16, 20, 21, 22))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    assert runner.invoke(app, ["-q", "postmortem"]).exit_code == 0
    monkeypatch.setitem(lifecycle.PITCHES, "anthropic/claude-sonnet-4.5", ("TLT", 2))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-20T17:00:00-05:00")
    assert runner.invoke(app, ["-q", "postmortem"]).exit_code == 0
    monkeypatch.setitem(lifecycle.PITCHES, "anthropic/claude-sonnet-4.5", ("TLT", -2))  # a side change: held back
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-21T08:00:00-05:00")
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    assert [e for e in stored_events(url, type="LegHeldBack") if e.account_id == "acct_3"]
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-21T12:00:00-05:00")
    result = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert result.exit_code == 0, result.output
    valued = [
        e.payload
        for e in stored_events(url, type="AccountValued")
        if e.account_id == "acct_3" and e.week_id.isoformat() == "2026-01-21"
    ]
    [start] = [v for v in valued if v["occasion"] == "week start"]
    after = [v for v in valued if v["occasion"] == "after fill"]
    assert after, valued  # the leg filled at the checkpoint, in session
    assert start["at_last_close"] == {"GLD": "2026-01-07"}
    for one in after:
        assert one.get("at_last_close") == {"GLD": "2026-01-07"} and "GLD" not in one.get("at_cost", []), one


def test_a_checkpoint_judges_an_account_holding_a_symbol_whose_prices_ended_beside_its_weeks_trade(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """acct_3 holds GLD (its prices ended, left unsold by the roll) and TLT, its week's trade. Every checkpoint of the
    week skipped it ("no price to wait for: GLD has none"): its TLT stop never checked, its owner never asked, the
    account never valued by a checkpoint. Now it is judged on TLT and valued with GLD at its last close, as the week
    start valued it; an account whose week's trade is itself the ended symbol is still skipped, saying why (the next
    test)."""
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _a_week_more_but_gld(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    assert runner.invoke(app, ["-q", "postmortem"]).exit_code == 0
    monkeypatch.setitem(lifecycle.PITCHES, "anthropic/claude-sonnet-4.5", ("TLT", 2))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T12:00:00-05:00")
    result = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert result.exit_code == 0, result.output
    by_account = {a["account_id"]: a for a in json.loads(result.stdout)["accounts"]}
    judged = by_account["acct_3"]
    assert not judged.get("skipped"), judged
    assert judged["checkpoint"]["instrument"] == "TLT" and judged["checkpoint"]["action"] == "REDUCE", judged
    [start] = [
        e.payload
        for e in stored_events(url, type="AccountValued")
        if e.account_id == "acct_3" and e.week_id.isoformat() == "2026-01-14" and e.payload["occasion"] == "week start"
    ]
    [checked] = [
        e.payload
        for e in stored_events(url, type="AccountValued")
        if e.account_id == "acct_3" and e.payload["occasion"].startswith("checkpoint 2026-01-14")
    ]
    assert checked["at_last_close"] == {"GLD": "2026-01-07"} and "at_cost" not in checked, checked
    assert start["at_last_close"] == {"GLD": "2026-01-07"}


def test_a_checkpoint_still_skips_an_account_whose_weeks_trade_is_the_symbol_whose_prices_ended(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """acct_3's week's trade is GLD itself (bought at Wednesday's open), and GLD.csv stops after that Wednesday: its
    trade has nothing to be judged by, so Friday's checkpoint skips it, saying why, judges the others, and values it
    with GLD at its last close; being judged beside an ended symbol is for an account with another trade."""
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _gld_ends_wednesday(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T12:00:00-05:00")
    result = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert result.exit_code == 0, result.output
    by_account = {a["account_id"]: a for a in json.loads(result.stdout)["accounts"]}
    assert by_account["acct_3"]["skipped"].startswith("no price to wait for: GLD has none"), by_account["acct_3"]
    assert all(by_account[a]["skipped"] is None for a in ("acct_1", "acct_2", "acct_4", "acct_5")), by_account
    [skip] = [e for e in stored_events(url, type="CheckpointSkipped") if e.account_id == "acct_3"]
    assert skip.payload["reason"] == by_account["acct_3"]["skipped"]
    checked = [
        e
        for e in stored_events(url, type="AccountValued")
        if e.account_id == "acct_3" and e.payload["occasion"].startswith("checkpoint 2026-01-09")
    ]
    [one] = checked  # valued all the same, GLD at its last close, as the week start valued it
    assert one.payload["at_last_close"] == {"GLD": "2026-01-07"} and "at_cost" not in one.payload, one.payload
