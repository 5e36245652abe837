"""What llmtrade posts to Alpaca is an order Alpaca takes at any hour: a market DAY order for whole shares, never for
extended hours (Alpaca trades outside the session only limit DAY orders: 422 'only type="limit" is allowed for
extended hours orders', alpaca-java #77) and never a fraction (Alpaca shorts whole shares only: 'fractional orders are
not allowed to short', alpaca-trade-api-python #405). The fake took both, politer than Alpaca; it refuses them now, as
Alpaca does, and this holds llmtrade's own orders to the shape that never meets either refusal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from alpaca.common.exceptions import APIError

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.order_plan import plan_orders
from llmtrade.domain.trading import Position
from tests.fakes.alpaca_server import FakeAlpacaServer, FakeRequest, FakeResponse
from tests.fakes.by_hand import trade_by_hand

KEY_ID, SECRET = "shape-key", "shape-secret"


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        fake.set_price("SPY", 600.0)
        fake.add_asset("SPY", shortable=True)
        fake.set_position("SPY", 10, 590.0)
        yield fake


def test_llmtrades_orders_are_market_day_whole_shares_never_extended_hours(server: FakeAlpacaServer) -> None:
    bodies: list[dict[str, Any]] = []
    submit = server._submit_order

    def keep(request: FakeRequest) -> FakeResponse:
        bodies.append(dict(request.body))
        return submit(request)

    server.route("POST", r"/v2/orders", keep, first=True)
    broker = AlpacaBroker("acct_1", KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2.0)
    held = {"SPY": Position(symbol="SPY", qty=10, avg_price=590.0)}
    close, opening = plan_orders(date(2026, 1, 7), "acct_1", held, "SPY", -16)  # a side change: both legs
    broker.submit(close)
    server.fill_open_orders()
    broker.submit(opening)

    assert [b["client_order_id"] for b in bodies] == [close.client_order_id, opening.client_order_id]
    for body in bodies:
        assert (body["type"], body["time_in_force"]) == ("market", "day")
        assert float(body["qty"]).is_integer() and "notional" not in body
        assert not body.get("extended_hours")
    assert server.orders[opening.client_order_id]["status"] == "accepted"  # the short, taken


def test_the_fake_refuses_what_alpaca_refuses_a_fractional_short_and_an_extended_hours_market_order(
    server: FakeAlpacaServer,
) -> None:
    server.set_position("SPY", 0, 590.0)
    with pytest.raises(APIError, match="fractional orders are not allowed to short"):
        trade_by_hand(server, "SPY", 0.5, side="sell")

    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    client = TradingClient(KEY_ID, SECRET, paper=True, url_override=server.base_url)
    order = MarketOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, extended_hours=True
    )
    with pytest.raises(APIError, match=r"only type=.*limit.* is allowed for extended hours orders"):
        client.submit_order(order)
    assert server.orders == {}
