"""A cancel stuck at Alpaca (pending_cancel for hours: alpacahq/Alpaca-API #111, #199, orders "I neither can cancel nor
do ANYTHING with") held every checkpoint of the account back: "orders still queued ... nothing to judge yet", while
its position was held and its stop never checked, in silence. The order may still fill, so nothing is sent while it is
there; the stop is checked all the same, and one that holds is said, loudly (a degraded run). Through the CLI, the
week's Alpaca account against the loopback fake, the real alpaca-py client."""

from __future__ import annotations

import json

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    KEY,
    MIDDAY,
    SECRET,
    WEEKLY,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)

STUCK = "lt-20260107-acct_1-SPY-stuck"


def _stuck_cancel(alpaca: CountingAlpaca) -> None:  # noqa: F811
    """The week's orders filled at the open; then an order of llmtrade's (an add to SPY) whose cancel Alpaca took and
    never carried out: pending_cancel, still open."""
    server = alpaca.server
    server.fill_open_orders()
    held = dict(server._holdings)
    assert held["SPY"].qty > 0
    person = TradingClient(KEY, SECRET, paper=True, url_override=server.base_url)
    sent = person.submit_order(
        MarketOrderRequest(
            symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, client_order_id=STUCK
        )
    )
    server.hold_cancels = True
    person.cancel_order_by_id(sent.id)
    assert server.orders[STUCK]["status"] == "pending_cancel"


def test_a_stuck_cancel_does_not_keep_the_accounts_stop_from_being_checked_nor_sends_a_second_order(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    runs.fresh_beside(alpaca)
    runs.invoke(["run-weekly"], WEEKLY)  # before the open: the Alpaca account's orders wait for it
    _stuck_cancel(alpaca)
    posts = alpaca.server.count("POST", "/v2/orders")

    runs.monkeypatch.setenv("LLMTRADE_NOW", MIDDAY)  # SPY opened 10% down: its stop (a 3% drop) holds
    result = CliRunner().invoke(app, ["checkpoint", "12:00", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    [account] = [a for a in report["accounts"] if a["account_id"] == ALPACA_ACCOUNT]
    said = account["skipped"] or ""
    assert "stop" in said and "holds" in said and STUCK in said and "pending_cancel" in said, said
    assert any(STUCK in note and "stop" in note for note in report["degraded"]), report["degraded"]
    assert alpaca.server.count("POST", "/v2/orders") == posts  # nothing sent while the stuck order may still fill
    assert alpaca.server.orders[STUCK]["status"] == "pending_cancel"


def test_a_weekly_run_holding_an_account_on_a_stuck_cancel_says_so_not_that_the_order_fills_at_the_open(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """The next week's run holds back the account with an order of llmtrade's whose cancel is stuck (it may still fill:
    nothing is planned on top of it), the others trading their week (tests/test_weekly_stuck_cancel_held.py). It said
    the order fills "at the open; run again after they fill", which a stuck cancel never does: it names the cancel
    under way and who can clear it."""
    runs.fresh_beside(alpaca)
    runs.invoke(["run-weekly"], WEEKLY)
    _stuck_cancel(alpaca)
    posts = alpaca.server.count("POST", "/v2/orders")

    runs.monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    result = CliRunner().invoke(app, ["run-weekly"])

    assert result.exit_code == 0, result.output
    assert f"{STUCK} (its cancel under way: pending_cancel" in result.output, result.output
    assert "Alpaca's support" in result.output and "fills at the open" not in result.output
    assert alpaca.server.count("POST", "/v2/orders") == posts
