"""A symbol taken out of assets.yaml's universe while an account holds it keeps its prices on the offline market.

A trial on the embedded defaults took USO out of the universe while acct_4 was short 1828 at 11.17: the synthetic
market then priced USO as a discovery candidate (a path of its own, from another start), the week's roll bought the
short back at 95.37, and acct_4's equity went to -53,549, halted by its breaker for a loss no price ever made.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.market.synthetic import KNOWN, SyntheticMarket

runner = CliRunner()
WEDNESDAY, THURSDAY = date(2026, 1, 7), date(2026, 1, 8)


def _status(monkeypatch: pytest.MonkeyPatch, at: str, *config: str) -> dict[str, Any]:
    monkeypatch.setenv("LLMTRADE_NOW", at)
    result = runner.invoke(app, [*config, "status", "--json"])
    assert result.exit_code == 0, result.output
    return {a["account_id"]: a for a in json.loads(result.stdout)["accounts"]}


def _close(universe: dict[str, str], symbol: str, day: date) -> float:
    """`symbol`'s close on `day` on the offline market of the packaged `universe`, which holds it."""
    return SyntheticMarket(universe).daily_bars([symbol], day, day)[symbol][0].close


def test_a_held_symbol_taken_out_of_the_universe_is_valued_at_its_own_prices(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # the week's run: orders for Wednesday's open
    before = _status(monkeypatch, "2026-01-08T09:00:00-05:00")  # valued at Wednesday's close
    held = sorted(
        (account, p["symbol"], p["qty"])
        for account, standing in before.items()
        for p in standing["positions"]
        if p["symbol"] in KNOWN and p["symbol"] != "SPY"
    )
    assert held, "no account holds a packaged ETF: the test proves nothing"
    account, symbol, qty = held[0]
    config = tmp_path / "config"
    assert runner.invoke(app, ["init", str(config)]).exit_code == 0
    assets = config / "assets.yaml"
    universe = {i["symbol"]: i["asset_class"] for i in yaml.safe_load(assets.read_text())["universe"]}
    assets.write_text("\n".join(ln for ln in assets.read_text().splitlines() if f"symbol: {symbol}," not in ln))
    # Friday: valued at Thursday's close, a bar no command has read yet, read now with the symbol out of the universe.
    after = _status(monkeypatch, "2026-01-09T09:00:00-05:00", "--config", str(config))
    moved = qty * (_close(universe, symbol, THURSDAY) - _close(universe, symbol, WEDNESDAY))
    assert after[account]["equity"] == pytest.approx(before[account]["equity"] + moved, abs=0.01), symbol
