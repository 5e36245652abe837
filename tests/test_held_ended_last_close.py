"""A held symbol whose prices ended (its CSV file no longer written, a ticker delisted or renamed) is valued at its last
close by `status` and the postmortem, as the live leaderboard and report (app/ended_closes.py) and a backtest
(app/marked_books.py) value it, and said so. Before, status and the postmortem valued it at cost: a week P/L of 0 for
the position, stored in the postmortem and remembered as the week's outcome, where the leaderboard booked its loss or
gain. A feed behind as a whole (SPY's file stopping too) is still a wait, never valued at an old close.

The scripted week of tests/test_week_lifecycle.py on its CSV market: acct_3 holds GLD from Wednesday's open.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events
from tests.test_checkpoint_prices_ended import _gld_ends_wednesday
from tests.test_paper_order_prices_ended import _a_week_more_but_gld
from tests.test_week_lifecycle import week

__all__ = ["week"]

runner = CliRunner()


def _close(folder: Path, symbol: str, day: str) -> float:
    """`symbol`'s close of `day` in the CSV folder."""
    lines = (folder / f"{symbol}.csv").read_text().splitlines()
    header = lines[0].split(",")
    [row] = [line.split(",") for line in lines[1:] if line.startswith(day)]
    return float(row[header.index("Close")])


def test_status_and_the_postmortem_value_a_held_symbol_whose_prices_ended_at_its_last_close(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _gld_ends_wednesday(tmp_path / "csv")
    last = _close(tmp_path / "csv", "GLD", "2026-01-07")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    done = runner.invoke(app, ["postmortem", "--json"])
    assert done.exit_code == 0, done.output
    [note] = json.loads(done.stdout)["degraded"]
    assert note.startswith(f"acct_3's end equity has GLD valued at its last close (2026-01-07: {last:g}), its prices")
    assert "GLD.csv" in note and "at cost" not in note

    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output  # valued, and said: no price failed
    status = json.loads(shown.stdout)
    assert status["prices_failed"] is None and status["prices_wait"] is None
    assert status["at_last_close"] == {"GLD": "2026-01-07"}
    [said] = [w for w in status["warnings"] if w.startswith("GLD")]
    assert said.startswith(f"GLD valued at its last close (2026-01-07: {last:g}), its prices ended: ")
    assert "(held by acct_3)" in said and "at cost" not in said
    acct_3 = next(a for a in status["accounts"] if a["account_id"] == "acct_3")
    [gld] = [p for p in acct_3["positions"] if p["symbol"] == "GLD"]
    assert gld["qty"] and last != gld["avg_price"]
    others = sum(
        p["qty"] * _close(tmp_path / "csv", p["symbol"], "2026-01-13") for p in acct_3["positions"] if p is not gld
    )
    assert acct_3["equity"] == pytest.approx(acct_3["cash"] + others + gld["qty"] * last, abs=0.01)

    # The postmortem's end equity, and the outcome it remembers, are of that value, not of GLD at its cost.
    [written] = [
        e.payload["postmortem"] for e in stored_events(url, type="PostmortemWritten") if e.account_id == "acct_3"
    ]
    at_cost = gld["qty"] * (gld["avg_price"] - last)
    assert written["end_equity"] == pytest.approx(acct_3["equity"], abs=0.01)
    assert written["week_pnl"] == pytest.approx(written["end_equity"] - written["start_equity"], abs=0.01)
    assert abs(at_cost) > 0.01  # what valuing GLD at cost would have added


def test_status_never_values_at_an_old_close_when_the_feed_is_behind_as_a_whole(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    week  # noqa: B018
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    for path in (tmp_path / "csv").glob("*.csv"):
        kept = [line for line in path.read_text().splitlines() if line[:10] <= "2026-01-07" or line.startswith("Date")]
        path.write_text("\n".join(kept) + "\n")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T12:00:00-05:00")
    shown = runner.invoke(app, ["status", "--json"])
    # As before: the read of every price failed, the CSV folder to update (exit 1), no position at an old close.
    assert shown.exit_code == 1, shown.output
    status = json.loads(shown.stdout)
    assert status["at_last_close"] == {}, status
    assert [w for w in status["warnings"] if w.startswith("prices unavailable")]
    assert not [w for w in status["warnings"] if "valued at its last close" in w]


def test_the_next_week_start_values_it_at_its_last_close_where_the_postmortem_left_it(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The week's postmortem ends acct_3's week with GLD at its last close; the next weekly run's week start valued it
    at cost (AccountValued.at_cost), so the next week began above where this one ended and booked GLD's loss again."""
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _a_week_more_but_gld(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    assert runner.invoke(app, ["-q", "postmortem"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    result = runner.invoke(app, ["-q", "run-weekly"])
    assert result.exit_code == 0, result.output
    [ended] = [
        e.payload["postmortem"] for e in stored_events(url, type="PostmortemWritten") if e.account_id == "acct_3"
    ]
    [start] = [
        e.payload
        for e in stored_events(url, type="AccountValued")
        if e.account_id == "acct_3" and e.week_id.isoformat() == "2026-01-14" and e.payload["occasion"] == "week start"
    ]
    assert start["at_last_close"] == {"GLD": "2026-01-07"} and "at_cost" not in start
    assert start["equity"] == pytest.approx(ended["end_equity"], abs=0.01)
    # A valuation with nothing at its last close is stored as before: no such field.
    assert not [e for e in stored_events(url, type="AccountValued") if e.week_id.isoformat() == "2026-01-07"
                and "at_last_close" in e.payload]  # fmt: skip
