"""A held universe symbol whose prices ended (its CSV file no longer written, a ticker delisted or renamed) is left out
of the week's snapshot; the week's roll sent its close all the same, where it sends none of a symbol held outside the
universe whose prices ended (tests/test_paper_order_prices_ended.py). Run in session, the close asked the quote service
for a price that will never come, and the execution stage failed with exit 75 at every retry; run before the open, the
close was queued for an open that never comes. Either way the week was sized with money from a sale that never came.

The scripted week of tests/test_week_lifecycle.py on its CSV market: acct_3 holds GLD from Wednesday's open; GLD.csv
stops after that Wednesday and GLD stays in assets.yaml's universe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events
from tests.test_paper_order_prices_ended import _a_week_more_but_gld
from tests.test_week_lifecycle import week

__all__ = ["week"]

runner = CliRunner()


@pytest.mark.parametrize("at", ["2026-01-14T08:00:00-05:00", "2026-01-14T10:00:00-05:00"])
def test_the_roll_sends_no_close_of_a_universe_symbol_left_out_as_its_prices_ended(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, at: str
) -> None:
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _a_week_more_but_gld(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    assert runner.invoke(app, ["-q", "postmortem"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", at)
    result = runner.invoke(app, ["-q", "run-weekly"])
    assert result.exit_code == 0, result.output  # in session it failed at every retry (exit 75)
    [snapshot] = [e for e in stored_events(url, type="MarketSnapshotTaken") if e.week_id.isoformat() == "2026-01-14"]
    assert "GLD" in snapshot.payload["snapshot"]["left_out"]
    planned = [
        o
        for e in stored_events(url, type="OrdersPlanned")
        if e.week_id.isoformat() == "2026-01-14"
        for o in e.payload["orders"]
    ]
    assert planned and not [o for o in planned if o["symbol"] == "GLD"], planned
    assert "account acct_3 holds +" in result.stderr and " GLD, whose prices ended (" in result.stderr
    assert "the week's roll sends no close of it" in result.stderr
    assert "`llmtrade positions settle acct_3 GLD [--price P]` closes it at its last close" in result.stderr
    assert stored_events(url, type="RunFinished")[-1].payload["degraded"] is True
