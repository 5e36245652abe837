"""An account taken out of accounts.yaml mid-week while it holds a position, and put back later: the reports say it.

A new user's trial (offline, CSV prices, the clock stepped, run-due wake-ups) took acct_4 and its PM out holding a
TLT short and put them back a week later. The postmortems of the weeks it was out had no row for it and said nothing
of it, though it held the short throughout (status and `config validate` name what it holds, the leaderboard notes
its rows); and once it was back, status showed its week P/L as n/a: the week's run had run without it, so its books
had no start-of-week valuation, though the curve knows the close before the week."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events
from tests.test_orphaned_positions import _without_acct_4

runner = CliRunner()


def _removed_holding(url: str, monkeypatch: pytest.MonkeyPatch, config: Path) -> str:
    """The week's run with acct_4, its fills, then acct_4 taken out: what acct_4 holds ("SYMBOL +QTY")."""
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # the week's run
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T10:01:00-05:00")
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # its orders filled at the open, recorded now
    fills = [e.payload["fill"] for e in stored_events(url, type="OrderFilled")]
    held = {f["symbol"]: 0 for f in fills if f["account_id"] == "acct_4"}
    for f in fills:
        if f["account_id"] == "acct_4":
            held[f["symbol"]] += f["qty"] if f["side"] == "buy" else -f["qty"]
    assert any(held.values()), "acct_4 holds nothing: the test proves nothing"
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:01:00-05:00")
    assert runner.invoke(app, ["--config", str(config), "-q", "run-due"]).exit_code == 0
    return ", ".join(f"{s} {q:+d}" for s, q in sorted(held.items()) if q)


def test_a_postmortem_names_an_account_out_of_the_config_that_held_a_position(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = _without_acct_4(tmp_path / "config")
    holding = _removed_holding(wednesday_week, monkeypatch, config)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:31:00-05:00")
    assert runner.invoke(app, ["--config", str(config), "-q", "run-due"]).exit_code == 0  # the postmortem, without it
    shown = runner.invoke(app, ["--config", str(config), "postmortem", "--week", "2026-01-07", "--json"])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)
    assert "acct_4" not in {a["account_id"] for a in report["accounts"]}
    [line] = report["without_rows"]
    assert line.startswith(f"acct_4 has no row but its books held {holding} at the week's end")
    assert "not in accounts.yaml" in line
    # Read as text, and again once acct_4 is back (its row is still missing: the week was written without it).
    for args in (["--config", str(config)], []):
        text = runner.invoke(app, [*args, "postmortem", "--week", "2026-01-07"])
        assert text.exit_code == 0, text.output
        assert f"NO ROW: acct_4 has no row but its books held {holding}" in text.stdout, args


def test_status_gives_the_week_pnl_of_an_account_put_back_after_its_weeks_run(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = _without_acct_4(tmp_path / "config")
    _removed_holding(wednesday_week, monkeypatch, config)
    for at in ("2026-01-13T16:31", "2026-01-14T08:01"):  # the postmortem, then the next week's run, without acct_4
        monkeypatch.setenv("LLMTRADE_NOW", f"{at}:00-05:00")
        assert runner.invoke(app, ["--config", str(config), "-q", "run-due"]).exit_code == 0
    valued = {e.week_id for e in stored_events(wednesday_week, type="AccountValued", account_id="acct_4")}
    assert valued == {date(2026, 1, 7)}  # the week's run valued it; the next one, without it, did not
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T17:00:00-05:00")  # acct_4 back (the packaged config)
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    [acct_4] = [a for a in json.loads(shown.stdout)["accounts"] if a["account_id"] == "acct_4"]
    board = runner.invoke(app, ["leaderboard", "--json"])
    assert board.exit_code == 0, board.output
    [curve] = [c for c in json.loads(board.stdout)["curves"] if c["name"] == "acct_4"]
    before = curve["equity"][curve["sessions"].index("2026-01-13")]  # the close before the week
    assert acct_4["week_pnl"] is not None, shown.stdout
    assert acct_4["week_pnl"] == pytest.approx(acct_4["equity"] - before, abs=0.01)
