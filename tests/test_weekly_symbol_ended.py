"""A universe symbol whose daily feed ended (its CSV file no longer written, a ticker delisted or renamed) is left out
of the week, said and recorded, and the weekly run goes on with the rest of the universe, degraded.

Before, its stale file failed the weekly run's market snapshot with exit 1 at every wake-up until assets.yaml was
edited, holding back every account. The judgement is the checkpoints' for a held symbol (market/held_prices.py
`prices_ended`); a feed behind as a whole (the benchmark's file behind too: a CSV folder not updated yet) still fails.

The scripted week of tests/test_week_lifecycle.py on its CSV market (the weekly run on Wednesday 2026-01-07 08:00).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events
from tests.test_week_lifecycle import week

__all__ = ["week"]

runner = CliRunner()


def _ends(folder: Path, symbol: str, last: str) -> None:
    """`symbol`.csv as a download script that stopped getting its rows after `last` leaves it."""
    path = folder / f"{symbol}.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line for line in lines if line[:10] <= last or line.startswith("Date")) + "\n")


def _schema_symbols(body: dict[str, Any]) -> set[str]:
    """Every instrument enum in a request's JSON schema."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("enum"), list) and "SPY" in node["enum"]:
                found.update(node["enum"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(body.get("response_format", {}))
    return found


def test_a_universe_symbol_whose_prices_ended_is_left_out_and_the_week_runs_on_the_rest(
    week: Any, tmp_path: Path
) -> None:
    fake, url, _ = week
    _ends(tmp_path / "csv", "IWM", "2025-12-12")  # three weeks before the run: the file stopped being written
    result = runner.invoke(app, ["run-weekly", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    [note] = [line for line in report["degraded"] if "IWM" in line]
    assert note.startswith("market snapshot: IWM left out of this week's universe, its prices having ended: ")
    assert "IWM.csv" in note and "the last bar is 2025-12-12" in note  # why, naming the file
    assert "Take IWM out of assets.yaml's universe" in note  # what to change
    [finished] = stored_events(url, type="RunFinished")[-1:]
    assert finished.payload["degraded"] is True
    [taken] = stored_events(url, type="MarketSnapshotTaken")
    snapshot = taken.payload["snapshot"]
    assert set(snapshot["left_out"]) == {"IWM"} and "IWM" not in snapshot["indicators"]
    assert "SPY" in snapshot["indicators"] and len(snapshot["indicators"]) == 11
    # Nobody may pitch or decide on what the week has no indicators for: IWM is in no schema the models were sent.
    asked = [s for body in fake.requests if (s := _schema_symbols(body))]
    assert asked and all("IWM" not in symbols and "SPY" in symbols for symbols in asked)
    orders = stored_events(url, type="OrderSubmitted")
    assert orders and all(e.payload["order"]["symbol"] != "IWM" for e in orders)


def test_a_feed_behind_as_a_whole_still_fails_the_snapshot(week: Any, tmp_path: Path) -> None:
    week  # noqa: B018
    for path in (tmp_path / "csv").glob("*.csv"):
        _ends(tmp_path / "csv", path.stem, "2026-01-05")  # Tuesday's rows not written to any file yet
    result = runner.invoke(app, ["run-weekly"])
    assert result.exit_code == 1, result.output
    assert "stage 'market_snapshot' failed" in result.output and "stale" in result.output


def test_status_and_positions_value_the_books_when_a_universe_symbol_nobody_holds_has_ended(
    week: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, IWM's stale file failed the universe's one read: `status` valued every position at cost and exited 1,
    `positions list` exited 1, though nobody held IWM."""
    week  # noqa: B018
    _ends(tmp_path / "csv", "IWM", "2025-12-12")
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T12:00:00-05:00")
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.stdout)
    assert status["prices_failed"] is None and status["valued_at"] == "2026-01-07"
    [said] = [w for w in status["warnings"] if w.startswith("IWM ")]
    assert said.startswith("IWM (in assets.yaml's universe, held by no account) has no price: ")
    assert "IWM.csv" in said and "take IWM out of the universe" in said
    assert not [w for w in status["warnings"] if "valued at cost" in w]  # every position at Wednesday's close
    listed = runner.invoke(app, ["positions", "list", "--json"])
    assert listed.exit_code == 0, listed.output


def test_the_postmortem_closes_the_week_when_a_universe_symbol_nobody_holds_has_ended(
    week: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the postmortem's read of the universe failed on IWM's stale file at every wake-up (exit 1), and with it
    the next weekly run waited behind it."""
    _, url, _ = week
    _ends(tmp_path / "csv", "IWM", "2025-12-12")
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    done = runner.invoke(app, ["postmortem", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert {a["account_id"] for a in report["accounts"]} >= {"acct_1", "acct_3", "acct_6"}
    assert report["degraded"] == []  # nobody held IWM: no end equity at cost
    assert stored_events(url, type="PostmortemCompleted")


def test_a_symbol_added_to_assets_yaml_after_the_weeks_snapshot_is_offered_to_nobody_that_week(
    week: Any, tmp_path: Path
) -> None:
    """The week's snapshot is frozen at its first run (here `research`, before the weekly run); XLE added to the
    universe after it has no indicators that week: the pitches and the chairman are not offered it."""
    fake, _, _ = week
    assert runner.invoke(app, ["-q", "research"]).exit_code == 0
    folder = tmp_path / "config"
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    assets = folder / "assets.yaml"
    assets.write_text(
        assets.read_text().replace(
            "universe:\n", "universe:\n  - {symbol: XLE, asset_class: equity, name: Energy Select Sector SPDR}\n", 1
        )
    )
    (tmp_path / "csv" / "XLE.csv").write_text((tmp_path / "csv" / "SPY.csv").read_text())
    fake.requests.clear()
    result = runner.invoke(app, ["--config", str(folder), "run-weekly", "--json"])
    assert result.exit_code == 0, result.output
    asked = [s for body in fake.requests if (s := _schema_symbols(body))]
    assert asked and all("XLE" not in symbols and "IWM" in symbols for symbols in asked), asked


def test_status_on_a_folder_behind_as_a_whole_names_every_file(
    week: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file short of Wednesday's row on Thursday: SPY's read (the anchor of the per-symbol read) fails too, and
    the failure said is the universe's, naming every file, not SPY's alone (as if SPY.csv were the one to mend)."""
    week  # noqa: B018
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    for path in (tmp_path / "csv").glob("*.csv"):
        _ends(tmp_path / "csv", path.stem, "2026-01-06")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T12:00:00-05:00")
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 1, shown.output
    reason = json.loads(shown.stdout)["prices_failed"]["reason"]
    assert "SPY.csv" in reason and "QQQ.csv" in reason and "GLD.csv" in reason, reason


def test_market_snapshot_shows_the_universe_without_a_symbol_whose_prices_ended(week: Any, tmp_path: Path) -> None:
    """Before, `market snapshot` failed with exit 1 on IWM's stale file, showing nothing of the other symbols."""
    week  # noqa: B018
    _ends(tmp_path / "csv", "IWM", "2025-12-12")
    shown = runner.invoke(app, ["market", "snapshot", "--json"])
    assert shown.exit_code == 0, shown.output
    snapshot = json.loads(shown.stdout)
    found = snapshot.get("snapshot", snapshot)
    assert "IWM" in found["left_out"] and "SPY" in found["indicators"] and "IWM" not in found["indicators"]
    assert "market snapshot: IWM left out of this week's universe" in shown.stderr
