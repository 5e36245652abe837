"""Trades the user makes by hand in an Alpaca paper account llmtrade trades too, through the command line (the real
alpaca-py client against the loopback fake, the user's orders sent with alpaca-py as a script of theirs would): they
are the user's, in neither llmtrade's return, its week P/L, its breaker nor its sizing (README: Reconciliation)."""

from __future__ import annotations

import json
from datetime import datetime

from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    KEY,
    OPENED,
    SECRET,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)

runner = CliRunner()


def _invoke(runs: Runs, args: list[str], at: str) -> str:  # noqa: F811
    runs.monkeypatch.setenv("LLMTRADE_NOW", at)
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    return done.stdout


def _by_hand(alpaca: CountingAlpaca, side: str, qty: int, symbol: str) -> None:  # noqa: F811
    """An order the user sends from a script of their own (an id of theirs): alpaca-py against the same account."""
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    client = TradingClient(KEY, SECRET, paper=True, url_override=alpaca.server.base_url)
    order = MarketOrderRequest(
        symbol=symbol, qty=qty, side=OrderSide(side), time_in_force=TimeInForce.DAY, client_order_id=f"mine-{side}"
    )
    client.submit_order(order)


def _acct_1(runs: Runs, at: str) -> dict:  # noqa: F811
    shown = json.loads(_invoke(runs, ["status", "--json"], at))
    return {a["account_id"]: a for a in shown["accounts"]}[ALPACA_ACCOUNT]


def test_a_round_trip_made_by_hand_is_neither_the_accounts_return_nor_its_breakers_peak(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """The user buys 200 AAPL by hand at 100 and sells them at 150. Before, the 10,000 they made was in the equity
    llmtrade called its own once the position was closed (only an open one's P/L was taken out): status showed acct_1
    +10.0% and a week P/L of +10,000, the checkpoint valued it at 110,000 and the breaker's peak rose to it (a later
    loss by hand would have halted llmtrade's trading), and the next week would have been sized on it."""
    state = alpaca.snapshot()
    primed = runs.primed()
    alpaca.restore(state)
    name = runs.fresh(primed)
    alpaca.server.fill_immediately = True
    alpaca.server.set_time(datetime.fromisoformat(OPENED))
    _invoke(runs, ["run-weekly"], OPENED)
    before = _acct_1(runs, "2026-01-07T11:00:00-05:00")

    alpaca.server.set_price("AAPL", 100.0)
    _by_hand(alpaca, "buy", 200, "AAPL")
    alpaca.server.set_price("AAPL", 150.0)
    _by_hand(alpaca, "sell", 200, "AAPL")
    after = _acct_1(runs, "2026-01-07T11:45:00-05:00")
    assert {d["difference"]["kind"] for d in after["differences"]} == {"unknown_fill"}  # seen, and said
    assert after["cash"] > before["cash"] + 9_999  # the broker's cash holds the user's 10,000
    assert (after["equity"], after["total_return"], after["week_pnl"]) == (
        before["equity"],
        before["total_return"],
        before["week_pnl"],
    )

    _invoke(runs, ["checkpoint", "12:00"], "2026-01-07T12:00:00-05:00")
    recorded = [(t, e) for _, t, e in runs.events(name) if e.get("account_id") == ALPACA_ACCOUNT]
    valued = [e["equity"] for t, e in recorded if t == "AccountValued" and e["occasion"].startswith("checkpoint")]
    assert valued and max(valued) < 100_500  # not 110,000
    peaks = [e["state"]["peak_equity"] for t, e in recorded if t == "BreakerUpdated"]
    assert max(peaks, default=100_000.0) < 100_500  # none recorded: the breaker's peak is the starting equity
