"""`breaker reset` restarts a halted account's peak at its equity at the last close, and values a held symbol whose
prices ended (its CSV file no longer written) at its last close, as `status`, the postmortem and the week start value
it. Before, it read the universe's closes without the symbols whose prices ended set apart, so any universe symbol
whose file stopped, held or not, failed the reset (exit 1) naming the file; and a held one outside the universe was
valued at its cost, the breaker's new peak put there.

The scripted week of tests/test_week_lifecycle.py on its CSV market: acct_3 holds GLD from Wednesday's open."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.trading import Fill, Side
from llmtrade.risk.controls import evaluate_breaker, halted
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.support import FIXED_NOW, stored_events
from tests.test_held_ended_last_close import _close
from tests.test_paper_order_prices_ended import _a_week_more_but_gld
from tests.test_week_lifecycle import week

__all__ = ["week"]

runner = CliRunner()
CONFIG = load_config(None).config


def _halt(url: str, account_id: str) -> None:
    """Ten losing one-share round trips: the breaker's loss streak halts the account."""
    losses = [
        Fill(
            client_order_id=f"t{n}{side}",
            account_id=account_id,
            symbol="GLD",
            side=side,
            qty=1,
            price=price,
            filled_at=FIXED_NOW,
        )
        for n in range(CONFIG.risk.circuit_breaker.halt_consecutive_losses)
        for side, price in ((Side.BUY, 100.0), (Side.SELL, 99.0))
    ]
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        evaluate_breaker(
            storage.events,
            account_id,
            starting_equity=100_000,
            equity=100_000,
            fills=losses,
            config=CONFIG.risk.circuit_breaker,
            week_id=None,
            run_id=None,
        )
        assert halted(storage.events, account_id)[0]


def test_a_breaker_reset_values_a_held_symbol_whose_prices_ended_at_its_last_close(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _a_week_more_but_gld(tmp_path / "csv")  # GLD.csv stops after Wednesday; the others go on
    _halt(url, "acct_3")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.stdout)
    assert status["at_last_close"] == {"GLD": "2026-01-07"}
    acct_3 = next(a for a in status["accounts"] if a["account_id"] == "acct_3")
    equity = acct_3["equity"]
    [gld] = [p for p in acct_3["positions"] if p["symbol"] == "GLD"]
    at_cost = gld["qty"] * (gld["avg_price"] - _close(tmp_path / "csv", "GLD", "2026-01-07"))
    assert abs(at_cost) > 0.05  # what valuing GLD at its cost would have put in the peak

    reset = runner.invoke(app, ["breaker", "reset", "acct_3"])

    assert reset.exit_code == 0, reset.output
    [resumed] = [e.payload for e in stored_events(url, type="BreakerUpdated") if e.account_id == "acct_3"][-1:]
    assert resumed["state"]["manual"] and not resumed["state"]["halted"]
    assert resumed["state"]["peak_equity"] == pytest.approx(equity, abs=0.01)  # GLD at its last close, as status
