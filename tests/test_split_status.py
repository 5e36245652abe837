"""`status` before a run has recorded a split: it records nothing (a read), so it showed the old shares at the new price
(a 4-for-1 read as a 75% loss) with no word of why. It now says which symbol looks split, by what ratio, and that the
next run records it. Through the CLI, as tests/test_split_week.py: the market read as the CSV provider, a file
rewritten in place answering as a provider that restated its history."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.conftest import FIXED_NOW
from tests.support import going_live
from tests.test_split_positions_paper import recorded_from_alpacas_position
from tests.test_split_week import _restate, live_csv_week
from tests.test_week_lifecycle import scripted

runner = CliRunner()
WARNING = "SPY looks split 4-for-1 on 2026-01-08"


def _splits(cli_env: dict[str, str]) -> list[dict]:
    with open_storage(Settings(DATABASE_URL=cli_env["DATABASE_URL"]), FixedClock(FIXED_NOW)) as storage:
        return [e.payload for e in storage.events.read(type="SplitDetected")]


def test_status_says_a_split_no_run_has_recorded_yet_and_records_nothing(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder, closes = live_csv_week(monkeypatch, tmp_path)
    stop_at_half = scripted({"SPY": closes["SPY"] * 0.5 / 0.97})  # a stop at half of it: no sale
    with going_live(monkeypatch, stop_at_half, market=folder):
        assert runner.invoke(app, ["run-weekly"]).exit_code == 0
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T09:00:00-05:00")
        assert runner.invoke(app, ["checkpoint", "09:00"]).exit_code == 0  # caches SPY to Wednesday
        plain = runner.invoke(app, ["status", "--json"])
        assert plain.exit_code == 0, plain.output
        held = [a for a in json.loads(plain.stdout)["accounts"] if any(p["symbol"] == "SPY" for p in a["positions"])]
        assert held, "an account holds SPY over the split"
        assert "looks split" not in plain.stderr  # an ordinary day: nothing said
        assert json.loads(plain.stdout)["warnings"] == []
        _restate(folder / "SPY.csv", 4.0)  # SPY split 4-for-1 on Thursday: its history restated
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T09:00:00-05:00")
        seen = runner.invoke(app, ["-q", "status", "--json"])
        assert seen.exit_code == 0, seen.output
        [warning] = [line for line in seen.stderr.splitlines() if "looks split" in line]
        assert WARNING in warning and "until the next run" in warning and "records it" in warning
        assert _splits(cli_env) == []  # said, not recorded: status is a read
        assert json.loads(seen.stdout)["accounts"]  # the standing is shown as before, the warning beside it
        assert json.loads(seen.stdout)["warnings"] == [warning]  # and in the JSON: a script reads no stderr
        # The next run records the split; status then shows the split shares and says nothing more.
        assert runner.invoke(app, ["-q", "checkpoint", "09:00"]).exit_code == 0
        after = runner.invoke(app, ["status", "--json"])
    assert [s["looks_like"] for s in _splits(cli_env)] == ["4-for-1"]
    assert "looks split" not in after.stderr and json.loads(after.stdout)["warnings"] == []
    shown = {a["account_id"]: a for a in json.loads(after.stdout)["accounts"]}
    for account in held:
        [before] = [p for p in account["positions"] if p["symbol"] == "SPY"]
        [now] = [p for p in shown[account["account_id"]]["positions"] if p["symbol"] == "SPY"]
        assert now["qty"] == before["qty"] * 4


def test_status_before_the_open_values_a_split_recorded_from_an_alpaca_position_in_the_new_shares(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A split Alpaca applied before Friday's open, recorded from its position by a pre-open look ('alpaca positions'),
    while Thursday's close is still the old shares': the paper accounts holding SPY are split from midnight, and status
    valued their four times the shares at that close (four times the position's worth). Now at the close split."""
    folder, closes = live_csv_week(monkeypatch, tmp_path)
    with going_live(monkeypatch, scripted({"SPY": closes["SPY"] * 0.5 / 0.97}), market=folder):
        assert runner.invoke(app, ["run-weekly"]).exit_code == 0
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T08:00:00-05:00")
        before = runner.invoke(app, ["status", "--json"])
        assert before.exit_code == 0, before.output
        recorded_at = datetime(2026, 1, 9, 13, tzinfo=UTC)  # the pre-open look that read Alpaca's position
        with open_storage(Settings(DATABASE_URL=cli_env["DATABASE_URL"]), FixedClock(recorded_at)) as storage:
            recorded_from_alpacas_position(storage.events, date(2026, 1, 9), 100.0)
        after = runner.invoke(app, ["status", "--json"])
        assert after.exit_code == 0, after.output
    was = {a["account_id"]: a for a in json.loads(before.stdout)["accounts"]}
    held = [a for a in json.loads(after.stdout)["accounts"] if any(p["symbol"] == "SPY" for p in a["positions"])]
    assert held, "an account holds SPY over the split"
    for account in held:
        [spy] = [p for p in account["positions"] if p["symbol"] == "SPY"]
        [old] = [p for p in was[account["account_id"]]["positions"] if p["symbol"] == "SPY"]
        assert spy["qty"] == old["qty"] * 4
        assert account["equity"] == pytest.approx(was[account["account_id"]]["equity"], abs=0.02)
