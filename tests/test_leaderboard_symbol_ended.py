"""The live leaderboard and report when a universe symbol's daily prices ended (a CSV file no longer written, a ticker
delisted or renamed).

The weekly run left such a symbol out of its week and ran on the rest (tests/test_weekly_symbol_ended.py), but
`leaderboard` and `report` read every universe symbol's closes over the books' whole range and exited 1 ("no bars
between ... in IWM.csv") at every call. They now read it as a backtest reads a delisted symbol (app/ended_closes.py):
EQUAL_WEIGHT holds what it could trade each week and keeps what it held of it at its last close, said in a note; a
feed behind as a whole still fails.

The scripted week of tests/test_week_lifecycle.py on its CSV market (the weekly run on Wednesday 2026-01-07 08:00, the
postmortem on Tuesday 2026-01-13 after the close; every close after Wednesday's is Wednesday's).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.domain.trading import Fill, Side
from tests.test_week_lifecycle import week
from tests.test_weekly_symbol_ended import _ends

__all__ = ["week"]

runner = CliRunner()


def _board(monkeypatch: pytest.MonkeyPatch, at: str) -> dict[str, Any]:
    monkeypatch.setenv("LLMTRADE_NOW", at)
    shown = runner.invoke(app, ["leaderboard", "--json"])
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.stdout)


def _equity(board: dict[str, Any], name: str) -> list[float]:
    [curve] = [c for c in board["curves"] if c["name"] == name]
    return list(curve["equity"])


def test_the_leaderboard_and_report_rank_the_books_when_a_universe_symbol_ended_before_them(
    week: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IWM.csv stopped three weeks before the weekly run: the week left it out; the leaderboard exited 1 on it."""
    week  # noqa: B018
    _ends(tmp_path / "csv", "IWM", "2025-12-12")
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    board = _board(monkeypatch, "2026-01-08T12:00:00-05:00")
    assert {"FLAT", "SPY", "EQUAL_WEIGHT"} <= {c["name"] for c in board["curves"]}
    [note] = [n for n in board["notes"] if n.startswith("prices ended")]
    assert "IWM (no close from 2026-01-06 on; left out of the universe of week 2026-01-07)" in note
    assert "EQUAL_WEIGHT held only what it could trade each week" in note
    assert "spread its weight equally over the symbols with a close" in note
    assert "no account held it at the end" in note
    # Its first purchase, at Tuesday's close (before the week began), had no close of IWM either: said as well.
    assert [n for n in board["notes"] if n.startswith("EQUAL_WEIGHT left IWM out of 1 of its 1 rebalances")]
    out = tmp_path / "r.html"
    made = runner.invoke(app, ["report", "-o", str(out)])
    assert made.exit_code == 0, made.output
    assert "prices ended" in out.read_text() and "left out of the universe of week 2026-01-07" in out.read_text()
    shown = runner.invoke(app, ["leaderboard"])
    assert shown.exit_code == 0, shown.output
    assert "prices ended" in shown.output


def test_equal_weight_keeps_a_symbol_whose_prices_ended_inside_the_books_at_its_last_close(
    week: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EQUAL_WEIGHT bought IWM at Tuesday's close; IWM.csv stops after Thursday, before the postmortem. Every close
    after Wednesday's is Wednesday's, so EQUAL_WEIGHT holding IWM at its last close to the end is the curve of the
    same books read with IWM's file whole: neither dropped (a loss of its weight) nor valued at cost."""
    week  # noqa: B018
    folder = tmp_path / "csv"
    whole = (folder / "IWM.csv").read_text()
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _ends(folder, "IWM", "2026-01-08")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    assert runner.invoke(app, ["-q", "postmortem"]).exit_code == 0
    board = _board(monkeypatch, "2026-01-14T08:00:00-05:00")
    assert board["start"] == "2026-01-06" and board["end"] == "2026-01-13"
    [note] = [n for n in board["notes"] if n.startswith("prices ended")]
    assert "IWM (its last close 2026-01-08)" in note and "kept any shares of it it held, valued at that close" in note
    out = tmp_path / "r.html"
    made = runner.invoke(app, ["report", "-o", str(out)])
    assert made.exit_code == 0, made.output
    assert "IWM (its last close 2026-01-08)" in out.read_text()
    (folder / "IWM.csv").write_text(whole)
    expected = _board(monkeypatch, "2026-01-14T08:00:00-05:00")
    assert not [n for n in expected["notes"] if n.startswith("prices ended")]
    assert _equity(board, "EQUAL_WEIGHT") == pytest.approx(_equity(expected, "EQUAL_WEIGHT"), abs=1e-6)


def test_a_feed_behind_as_a_whole_still_fails_the_leaderboard(
    week: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file, SPY's too, stops after Thursday while the books run to Tuesday: the feed is behind, not a symbol
    ended; the leaderboard fails (exit 1) naming the stale files, as before."""
    week  # noqa: B018
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    for path in (tmp_path / "csv").glob("*.csv"):
        _ends(tmp_path / "csv", path.stem, "2026-01-08")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    runner.invoke(app, ["-q", "postmortem"])  # fails on the stale files, but it ran: the books reach Tuesday
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    shown = runner.invoke(app, ["leaderboard", "--json"])
    assert shown.exit_code == 1, shown.output
    assert "stale" in shown.output and "SPY.csv" in shown.output
    assert "prices ended" not in shown.output


def test_the_note_names_each_account_still_holding_a_symbol_whose_prices_ended() -> None:
    from llmtrade.app.ended_closes import ended_note  # the module of the fix: the tests above fail without it too

    at = datetime(2026, 1, 7, 15, tzinfo=UTC)

    def fill(account: str, side: Side, qty: float) -> Fill:
        return Fill(
            client_order_id=f"{account}-{side}", account_id=account, symbol="IWM", side=side, qty=qty, price=200.0,
            filled_at=at,
        )  # fmt: skip

    fills = [fill("acct_1", Side.BUY, 10), fill("acct_2", Side.BUY, 5), fill("acct_2", Side.SELL, 5)]
    note = ended_note({"IWM": date(2026, 1, 8)}, {}, fills, date(2026, 1, 6))
    assert note is not None
    assert "acct_1 still held IWM, marked at its last close to the end" in note and "acct_2" not in note
    assert "as status and the postmortem value it" in note and "at cost" not in note
    assert ended_note({}, {}, fills, date(2026, 1, 6)) is None


def test_an_account_still_holding_a_symbol_whose_prices_ended_is_marked_at_its_last_close(
    week: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """acct_3 holds GLD from Wednesday's open; GLD.csv stops after Thursday, before the postmortem (which values it at
    its last close, as the leaderboard does, degraded). The leaderboard marks it at its last close to the end: with
    every close after Wednesday's Wednesday's, acct_3's curve is the one of the same books read with GLD's file whole,
    and the note names acct_3."""
    week  # noqa: B018
    folder = tmp_path / "csv"
    whole = (folder / "GLD.csv").read_text()
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _ends(folder, "GLD", "2026-01-08")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    done = runner.invoke(app, ["postmortem", "--json"])
    assert done.exit_code == 0, done.output
    said = "acct_3's end equity has GLD valued at its last close (2026-01-08: "
    assert [line for line in json.loads(done.stdout)["degraded"] if line.startswith(said)]
    board = _board(monkeypatch, "2026-01-14T08:00:00-05:00")
    [note] = [n for n in board["notes"] if n.startswith("prices ended")]
    assert "GLD (its last close 2026-01-08)" in note
    assert "acct_3 still held GLD, marked at its last close to the end" in note and "at cost" not in note
    (folder / "GLD.csv").write_text(whole)
    expected = _board(monkeypatch, "2026-01-14T08:00:00-05:00")
    assert _equity(board, "acct_3") == pytest.approx(_equity(expected, "acct_3"), abs=1e-6)
    assert _equity(board, "EQUAL_WEIGHT") == pytest.approx(_equity(expected, "EQUAL_WEIGHT"), abs=1e-6)
