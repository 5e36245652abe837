"""`status` whose prices cannot be read for a reason waiting will not mend exits with that failure's code.

A new user's CSV folder lost a held symbol's file (a download script that failed for it): `status` printed one warning
line, valued every position at cost (an order filled at the open not shown at all) and exited 0, so a user reading
status weekly, or a script reading its exit, took made-up equities for the books. It still shows what it can, then
exits 2 (the CSV folder's own file to mend) or 1, `prices_failed` in `--json` saying why; a wait stays exit 75.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_week_lifecycle import week

__all__ = ["week"]  # the fixture: a scripted week on a CSV market; acct_3 buys GLD at Wednesday's open

runner = CliRunner()


def test_status_with_a_held_symbols_csv_file_gone_exits_2_naming_it(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    week  # noqa: B018 (the fixture's market and models)
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    (tmp_path / "csv" / "GLD.csv").unlink()  # acct_3 holds GLD; Wednesday's bars are not cached yet
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T12:05:00-05:00")
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 2, shown.output
    status = json.loads(shown.stdout)  # the figures are still shown, with why they are not the books'
    assert status["prices_wait"] is None
    assert status["prices_failed"]["exit_code"] == 2
    assert "GLD.csv does not exist" in status["prices_failed"]["reason"]
    assert {a["account_id"] for a in status["accounts"]} >= {"acct_3", "acct_6"}
    assert status["unpriced_orders"] == ["GLD"]  # its fill at Wednesday's open needs the price: none held yet
    plain = runner.invoke(app, ["-q", "status"])
    assert plain.exit_code == 2
    assert "the fill of llmtrade's order queued in GLD cannot be valued, so these figures are not the books'" in (
        plain.stderr
    )
    assert "GLD.csv" in plain.stderr


def test_status_with_every_file_there_exits_0(week: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    week  # noqa: B018
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T12:05:00-05:00")
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["prices_failed"] is None


def test_status_with_only_a_queued_orders_symbol_unpriced_says_so_not_positions_at_cost(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A trial: before the open, acct_3's GLD order queued and nothing held in GLD, its file gone. Status said
    # "positions valued at cost" of books that hold no GLD; what lacks the price is the order's fill.
    week  # noqa: B018
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    (tmp_path / "csv" / "GLD.csv").unlink()
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:30:00-05:00")  # Wednesday, before the open that fills it
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 2, shown.output
    status = json.loads(shown.stdout)
    assert status["unpriced_orders"] == ["GLD"]
    acct_3 = next(a for a in status["accounts"] if a["account_id"] == "acct_3")
    assert [o["symbol"] for o in acct_3["open_orders"]] == ["GLD"]
    assert all(p["symbol"] != "GLD" for a in status["accounts"] for p in a["positions"])
    plain = runner.invoke(app, ["-q", "status"])
    assert plain.exit_code == 2
    assert "positions valued at cost" not in plain.stderr
    assert "the fill of llmtrade's order queued in GLD cannot be valued" in plain.stderr
    assert "GLD (an order of acct_3 whose fill is not recorded yet; nothing held) has no price here" in plain.stderr


def test_status_with_a_held_position_unpriced_says_positions_at_cost(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    week  # noqa: B018
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:05:00-05:00")
    assert runner.invoke(app, ["-q", "checkpoint", "12:00"]).exit_code == 0  # records the fills at the open
    (tmp_path / "csv" / "GLD.csv").unlink()
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T12:05:00-05:00")
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 2, shown.output
    status = json.loads(shown.stdout)
    assert status["unpriced_orders"] == []
    assert any(p["symbol"] == "GLD" for a in status["accounts"] for p in a["positions"])
    plain = runner.invoke(app, ["-q", "status"])
    assert plain.exit_code == 2
    assert "positions valued at cost, so these figures are not the books'" in plain.stderr
    assert "GLD (held by acct_3) has no price here" in plain.stderr
