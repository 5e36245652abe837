"""An order of llmtrade's Alpaca is done with for the day (status done_for_day: it "will not receive further updates
until the next trading day", docs.alpaca.markets order lifecycle; a DAY order so ends expired). llmtrade took it for a
queued order about to fill: the weekly run held the account's week ("a queued order fills at the open") and every
checkpoint judged nothing, until Alpaca ended it. It cannot fill now, so nothing waits for it; it still exists at
Alpaca, so it is never sent again (a rerun's POST finds it working under its id). The fake models the status."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest
from typer.testing import CliRunner

from llmtrade.brokers.alpaca_answers import Answer
from llmtrade.brokers.alpaca_orders import to_broker_order
from llmtrade.cli import app
from llmtrade.domain.trading import OrderStatus
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_broker import KEY_ID, ORDERS, SECRET, broker_for, order
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    KEY,
    WEEKLY,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)
from tests.test_crash_points import SECRET as ACCOUNT_SECRET

DONE = "lt-20260107-acct_1-SPY-done"
NEXT_WEEK = "2026-01-14"


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        yield fake


def test_an_order_done_for_the_day_is_listed_open_not_filled_and_never_sent_twice(server: FakeAlpacaServer) -> None:
    server.set_price("SPY", 600)
    broker = broker_for(server)
    sent = order()
    broker.submit(sent)
    server.done_for_day(sent.client_order_id)

    [listed] = broker.open_orders()
    assert listed.done_for_day and listed.status is OrderStatus.ACCEPTED  # it exists: working, not ended
    assert server.fill_open_orders() == []  # no open fills it
    again = broker.submit(sent)  # a rerun: the duplicate id, looked up, is the order Alpaca holds
    assert again.status is OrderStatus.ACCEPTED and len(server.orders) == 1
    assert server.count("POST", ORDERS) == 2
    found = broker.find(sent.client_order_id)
    assert found is not None and found.status is OrderStatus.ACCEPTED

    server.end_order(sent.client_order_id, "expired")  # a DAY order ends so
    assert broker.open_orders() == []


def _of_week(done: Runs, kind: str) -> list[dict[str, object]]:
    return [p for s, t, p in done.events(done.databases[-1]) if t == kind and s.startswith(f"week:{NEXT_WEEK}:")]


def test_an_order_done_for_the_day_does_not_hold_the_accounts_week_nor_is_sent_again(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    runs.fresh_beside(alpaca)
    runs.invoke(["run-weekly"], WEEKLY)
    server = alpaca.server
    server.fill_open_orders()
    person = TradingClient(KEY, ACCOUNT_SECRET, paper=True, url_override=server.base_url)
    person.submit_order(
        MarketOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, client_order_id=DONE)
    )
    server.done_for_day(DONE)

    week = CliRunner().invoke(app, ["run-weekly", "--json"], env={"LLMTRADE_NOW": f"{NEXT_WEEK}T08:00:00-05:00"})

    assert week.exit_code == 0, week.output
    assert not _of_week(runs, "AccountWeekHeld"), json.loads(week.stdout)["degraded"]
    planned = {str(p["account_id"]) for p in _of_week(runs, "OrdersPlanned")}
    assert ALPACA_ACCOUNT in planned  # planned from what it holds: the order done for the day cannot fill
    assert server.orders[DONE]["status"] == "done_for_day" and alpaca.submitted.get(DONE, 0) <= 1


@pytest.mark.parametrize(("status", "done"), [("done_for_day", True), ("calculated", True), ("accepted", False)])
def test_which_of_alpacas_statuses_say_an_order_is_done_for_the_day(status: str, done: bool) -> None:
    """calculated: "completed for the day (either filled or done for day), but remaining settlement calculations are
    still pending" (Alpaca's order lifecycle): no more for today either, what filled already in its filled_qty."""
    raw = {
        "id": "9f1c",
        "client_order_id": DONE,
        "symbol": "SPY",
        "side": "buy",
        "qty": "10",
        "filled_qty": "4",
        "filled_avg_price": "600",
        "status": status,
        "submitted_at": "2026-01-07T21:00:00Z",
    }
    listed = to_broker_order(Answer(raw))
    assert listed.done_for_day is done and listed.status is OrderStatus.ACCEPTED and listed.filled_qty == 4
