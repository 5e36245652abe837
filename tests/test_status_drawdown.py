"""`status`'s maximum drawdown is over the closes the live leaderboard marks the books at, then now (an audit: status
took it over the runs' valuations only, so it missed the closes no run valued, shrank from one evening to the next with
nothing traded, and gave acct_1 0.13% where the leaderboard at the same close gave 0.30%). On a real PostgreSQL,
offline (synthetic market, rules provider, paper brokers), through the command line."""

from __future__ import annotations

import itertools
import json

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_leaderboard_command import _at

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
