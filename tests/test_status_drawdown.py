"""`status`'s maximum drawdown is over the closes the live leaderboard marks the books at, then now (an audit: status
took it over the runs' valuations only, so it missed the closes no run valued, shrank from one evening to the next with
nothing traded, and gave acct_1 0.13% where the leaderboard at the same close gave 0.30%). On a real PostgreSQL,
offline (synthetic market, rules provider, paper brokers), through the command line."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_leaderboard_command import _at
from tests.test_week_lifecycle import week

__all__ = ["week"]  # the fixture: a scripted week over CSV prices

runner = CliRunner()


def _status(monkeypatch: pytest.MonkeyPatch, instant: str) -> dict[str, float]:
    """Each account's `max_drawdown` in `status --json` at `instant`."""
    _at(monkeypatch, instant)
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    return {a["account_id"]: a["max_drawdown"] for a in json.loads(shown.stdout)["accounts"]}


def _evening(day: int) -> str:
    return f"2026-01-{day:02d}T17:00:00-05:00"  # after that session's close, New York


def test_status_drawdown_is_the_live_leaderboards_at_the_same_close_and_never_falls(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, float]] = []  # status each evening, in time order
    _at(monkeypatch, "2026-01-07T08:00:00-05:00")
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    seen.append(_status(monkeypatch, _evening(7)))
    _at(monkeypatch, "2026-01-08T12:00:00-05:00")
    assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code == 0
    seen += [_status(monkeypatch, _evening(day)) for day in (8, 9, 12)]
    # The postmortem after Tuesday's close: the live leaderboard ends at that close (2026-01-13).
    _at(monkeypatch, "2026-01-13T16:30:00-05:00")
    done = runner.invoke(app, ["postmortem", "--week", "2026-01-07"])
    assert done.exit_code == 0, done.output

    _at(monkeypatch, _evening(13))
    board = json.loads(runner.invoke(app, ["leaderboard", "--json"]).stdout)
    assert board["end"] == "2026-01-13"
    ranked = {s["name"]: s["max_drawdown"] for s in board["standings"]}
    seen.append(_status(monkeypatch, _evening(13)))
    assert any(ranked[a] > 0.0005 for a in seen[-1]), "nothing fell: the test proves nothing"
    for account, value in seen[-1].items():
        assert value == pytest.approx(ranked[account], abs=1e-6), account

    # A maximum to date: each evening's at least the one before (now's equity is in cents, a close's mark is not).
    seen += [_status(monkeypatch, _evening(day)) for day in (14, 15, 16, 20)]
    for account in seen[0]:
        each = [s[account] for s in seen]
        assert all(later >= earlier - 1e-7 for earlier, later in itertools.pairwise(each)), (account, each)


def test_status_marks_the_fills_the_broker_made_that_no_run_recorded_yet(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The weekly run's orders fill at Wednesday's open; no run records them until Tuesday's checkpoint. Status marked
    # the closes between as cash (acct_1: 0, 0.07%, 0, 0 where the leaderboard later gave 0.22%).
    _at(monkeypatch, "2026-01-07T08:00:00-05:00")
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    seen = [_status(monkeypatch, _evening(day)) for day in (7, 8, 9, 12)]
    _at(monkeypatch, "2026-01-13T09:00:00-05:00")
    assert runner.invoke(app, ["checkpoint", "09:00"]).exit_code == 0
    board = json.loads(runner.invoke(app, ["leaderboard", "--json"]).stdout)
    assert board["end"] == "2026-01-12"
    ranked = {s["name"]: s["max_drawdown"] for s in board["standings"]}
    assert ranked["acct_1"] > 0.001, "nothing fell: the test proves nothing"
    for account, value in seen[-1].items():
        assert value == pytest.approx(ranked[account], abs=1e-6), account
    for account in seen[0]:
        each = [s[account] for s in seen]
        assert all(later >= earlier - 1e-7 for earlier, later in itertools.pairwise(each)), (account, each)


def test_status_asks_the_provider_for_no_more_than_its_own_sessions(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing ran for seven weeks: status fetched the books' whole span (every session since the weekly run) to mark
    # the closes, on every call after a close; now it asks only its own last sessions (ten: 25 days with the padding,
    # market/service.py `bars_asof`), and says which close it lacks instead of fetching years.
    _at(monkeypatch, "2026-01-07T08:00:00-05:00")
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    with psycopg.connect(cli_env["DATABASE_URL"]) as conn:
        before = conn.execute("SELECT max(id) FROM market_fetches").fetchone()[0]
    _at(monkeypatch, "2026-02-27T17:00:00-05:00")
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    with psycopg.connect(cli_env["DATABASE_URL"]) as conn:
        spans = conn.execute(
            "SELECT end_day - start_day, symbol FROM market_fetches WHERE id > %s", (before,)
        ).fetchall()
    assert spans and max(s[0] for s in spans) <= 25, spans
    result = json.loads(shown.stdout)
    drawdowns = {a["account_id"]: a["max_drawdown"] for a in result["accounts"]}
    assert drawdowns["acct_1"] is None and drawdowns["acct_6"] == 0.0
    said = [w for w in result["warnings"] if w.startswith("acct_1: max drawdown not shown: it held ")]
    assert len(said) == 1 and "at the close of 2026-01-07, and that close is missing" in said[0], result["warnings"]


def test_a_held_symbol_without_prices_leaves_only_its_holders_without_a_drawdown(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GLD, held by acct_3 alone, loses its prices: one fetch of every symbol failed, and every account's drawdown went.
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _at(monkeypatch, "2026-01-07T12:00:00-05:00")
    assert runner.invoke(app, ["-q", "checkpoint", "12:00"]).exit_code == 0
    _at(monkeypatch, _evening(8))
    assert runner.invoke(app, ["-q", "status"]).exit_code == 0
    (tmp_path / "csv" / "GLD.csv").unlink()
    _at(monkeypatch, _evening(9))
    shown = runner.invoke(app, ["status", "--json"])
    # Shown whole, then exit 2: GLD's position is at cost for a file to mend (test_status_prices_failed.py).
    assert shown.exit_code == 2, shown.output
    result = json.loads(shown.stdout)
    assert "GLD.csv" in result["prices_failed"]["reason"]
    drawdowns = {a["account_id"]: a["max_drawdown"] for a in result["accounts"]}
    assert drawdowns["acct_3"] is None
    assert all(value is not None for account, value in drawdowns.items() if account != "acct_3"), drawdowns
    assert drawdowns["acct_2"] > 0  # its fill's costs are still seen
    assert any(
        w.startswith("acct_3: max drawdown not shown: it held GLD at the close of 2026-01-09")
        for w in result["warnings"]
    )
