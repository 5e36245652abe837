"""The breaker through the commands: a halted account's checkpoint EXIT and REDUCE go out, its FLIP
only closes (the table says so), and a halted account's week pick is kept as a shadow trade."""

from __future__ import annotations

import json
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
from tests.support import FIXED_NOW
from tests.test_week_lifecycle import week  # noqa: F401  (the scripted week: SPY opens 10% down)

runner = CliRunner()
CONFIG = load_config(None).config


def _halt(url: str, *accounts: str) -> None:
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        for account_id in accounts:
            losses = [
                Fill(
                    client_order_id=f"{account_id}-{n}-{side}",
                    account_id=account_id,
                    symbol="ZZZ",
                    side=side,
                    qty=1,
                    price=price,
                    filled_at=FIXED_NOW,
                )
                for n in range(CONFIG.risk.circuit_breaker.halt_consecutive_losses)
                for side, price in ((Side.BUY, 100.0), (Side.SELL, 99.0))
            ]
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


def _positions(monkeypatch: pytest.MonkeyPatch, at: str) -> dict[str, dict[str, int]]:
    monkeypatch.setenv("LLMTRADE_NOW", at)
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    return {
        a["account_id"]: {p["symbol"]: p["qty"] for p in a["positions"]} for a in json.loads(result.stdout)["accounts"]
    }


def test_a_halted_accounts_checkpoint_exit_and_reduce_go_out_and_its_flip_only_closes(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, _ = week
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    before = _positions(monkeypatch, "2026-01-07T12:00:00-05:00")
    gld = before["acct_3"]["GLD"]
    _halt(url, "acct_1", "acct_2", "acct_3")  # SPY (EXIT by rule), TLT (FLIP), GLD (REDUCE)

    result = runner.invoke(app, ["checkpoint", "12:00"])
    assert result.exit_code == 0, result.output
    table = " ".join(result.stdout.split())
    assert "FLIP cut to +0 (halted: may only reduce)" in table
    after = _positions(monkeypatch, "2026-01-07T12:05:00-05:00")
    assert after["acct_1"] == {}  # the halted account's stop-loss EXIT was sent
    assert after["acct_2"] == {}  # the FLIP's close went; its open leg did not
    assert after["acct_3"] == {"GLD": gld // 2}  # REDUCE reduces
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        assert storage.events.read(type="OrderBlocked") == []
        shadow = [e.payload for e in storage.events.read(type="ShadowTraded", account_id="acct_2")]
        assert [(s["fill"]["symbol"], s["fill"]["side"]) for s in shadow] == [("TLT", "sell")]  # the short it wanted


def test_a_halted_account_opens_nothing_and_its_week_pick_is_a_shadow_trade(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, _ = week
    _halt(url, "acct_3")
    report = json.loads(runner.invoke(app, ["run-weekly", "--json"]).stdout)
    acct_3 = next(v for v in report["risk"] if v["account_id"] == "acct_3")
    assert acct_3["approved"] is False and acct_3["target_qty"] == 0
    assert not [o for o in report["orders"] if o["account_id"] == "acct_3"]
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        [shadow] = [e.payload for e in storage.events.read(type="ShadowTraded", account_id="acct_3")]
        assert shadow["fill"]["symbol"] == "GLD" and shadow["fill"]["side"] == "buy" and shadow["fill"]["qty"] > 0
        assert shadow["source"] == "week 2026-01-07"
    assert runner.invoke(app, ["run-weekly", "--json"]).exit_code == 0  # a rerun records no second shadow
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        assert len(storage.events.read(type="ShadowTraded", account_id="acct_3")) == 1
    status = runner.invoke(app, ["status"])
    assert "(0 trades)" in status.stdout
