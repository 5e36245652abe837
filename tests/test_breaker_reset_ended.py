"""`breaker reset` of an account holding a symbol whose prices ended (its CSV file no longer written, a ticker delisted
or renamed) restarts the peak at the account's equity with that symbol at its last close, as `status` values it. Before,
its one read of the universe's closes failed on that symbol's file and the reset was refused (exit 1), the account
halted until assets.yaml was edited; and a held symbol outside the universe whose prices ended was valued at its cost,
restarting the peak at an equity no other reader gives.

The scripted week of tests/test_week_lifecycle.py on its CSV market: acct_3 holds GLD from Wednesday's open; GLD.csv
stops after that Wednesday.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.trading import Fill, Side
from llmtrade.risk.controls import evaluate_breaker
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.support import FIXED_NOW, stored_events
from tests.test_checkpoint_prices_ended import _gld_ends_wednesday
from tests.test_paper_order_prices_ended import _without_gld
from tests.test_week_lifecycle import CONFIG, week

__all__ = ["week"]

runner = CliRunner()


def _halt(url: str, account_id: str) -> None:
    """`account_id`'s breaker halted by a run of losing trades (as its evaluation after fills would)."""
    losses = [
        Fill(
            client_order_id=f"t{n}{side}",
            account_id=account_id,
            symbol="SPY",
            side=side,
            qty=1,
            price=price,
            filled_at=FIXED_NOW,
        )
        for n in range(CONFIG.risk.circuit_breaker.halt_consecutive_losses)
        for side, price in ((Side.BUY, 100.0), (Side.SELL, 99.0))
    ]
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        state = evaluate_breaker(
            storage.events,
            account_id,
            starting_equity=100_000,
            equity=100_000,
            fills=losses,
            config=CONFIG.risk.circuit_breaker,
            week_id=None,
            run_id=None,
        )
    assert state.halted


@pytest.mark.parametrize("in_universe", [True, False])
def test_a_breaker_reset_values_a_held_symbol_whose_prices_ended_at_its_last_close(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, in_universe: bool
) -> None:
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _gld_ends_wednesday(tmp_path / "csv")
    if not in_universe:
        _without_gld(monkeypatch, tmp_path)  # the user took it out of assets.yaml
    _halt(url, "acct_3")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T17:00:00-05:00")
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.stdout)
    assert status["at_last_close"] == {"GLD": "2026-01-07"}
    [acct_3] = [a for a in status["accounts"] if a["account_id"] == "acct_3"]
    reset = runner.invoke(app, ["breaker", "reset", "acct_3"])
    assert reset.exit_code == 0, reset.output
    peak = reset.stdout.split("peak equity now ")[1].split(")")[0]
    assert float(peak.replace(",", "")) == pytest.approx(acct_3["equity"], abs=0.01)
    [resumed] = stored_events(url, type="AccountResumed")
    assert resumed.account_id == "acct_3"


def test_a_breaker_reset_is_refused_while_a_held_symbol_has_no_price_at_all(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """GLD's file gone (and GLD out of the universe): no price, no last close. The reset restarted the peak at an
    equity with GLD at its cost, which no reader gives (status exits 2 for the CSV folder's file, at cost); now it is
    refused with the same exit, naming the symbol and why, and records nothing."""
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")  # records the open's fills (acct_3 keeps GLD)
    assert runner.invoke(app, ["-q", "checkpoint", "12:00"]).exit_code == 0
    (tmp_path / "csv" / "GLD.csv").unlink()
    _without_gld(monkeypatch, tmp_path)
    _halt(url, "acct_3")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T17:00:00-05:00")
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 2, shown.output
    reset = runner.invoke(app, ["breaker", "reset", "acct_3"])
    assert reset.exit_code == 2, reset.output
    said = " ".join(reset.stderr.split())
    assert said.startswith("error: acct_3: a breaker reset restarts its peak at the account's equity at the last close")
    assert "GLD (" in said and "GLD.csv" in said and "the breaker was not reset" in said
    assert stored_events(url, type="AccountResumed") == []


def test_a_breaker_reset_after_the_unpriced_symbol_was_released_counts_only_what_llmtrade_manages(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """GLD's file gone, the user follows the advice and releases GLD: it is no longer the account's to value. The
    reset kept reading the broker's list of symbols at cost, the released GLD among them, and was refused (exit 2,
    "holds what has no price: GLD") for good, the account halted; now only managed, held shares count."""
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")  # records the open's fills (acct_3 keeps GLD)
    assert runner.invoke(app, ["-q", "checkpoint", "12:00"]).exit_code == 0
    (tmp_path / "csv" / "GLD.csv").unlink()
    _without_gld(monkeypatch, tmp_path)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T17:00:00-05:00")
    released = runner.invoke(app, ["positions", "release", "acct_3", "GLD"])
    assert released.exit_code == 0, released.output
    _halt(url, "acct_3")
    reset = runner.invoke(app, ["breaker", "reset", "acct_3"])
    assert reset.exit_code == 0, reset.output
    [resumed] = stored_events(url, type="AccountResumed")
    assert resumed.account_id == "acct_3"
