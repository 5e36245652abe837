"""An answer to POST /v2/orders that does not prove Alpaca refused the order (a proxy's 408 request timeout, a 409,
a 425) is settled by looking the order up, as a 5xx is: it was recorded as a final refusal (OrderRejected) while the
order was live at Alpaca (trial A, p2). The real alpaca-py client against the loopback fake."""

from __future__ import annotations

from datetime import date

import pytest

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import Order, OrderStatus, OrderSubmitted, Side
from llmtrade.errors import BrokerUnavailable
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.execution import send_orders
from tests.fakes.alpaca_server import FakeAlpacaServer

KEY, SECRET = "k", "s"
WEEK = date(2026, 1, 5)
STREAM = week_stream(WEEK, ORDERS)
ORDER = Order(
    client_order_id="lt-20260105-acct_1-SPY-open",
    account_id="acct_1",
    week_id=WEEK,
    symbol="SPY",
    side=Side.BUY,
    qty=10,
    intent="open",
)


@pytest.mark.parametrize("status", [408, 409, 425])
def test_an_unproven_refusal_after_alpaca_stored_the_order_is_the_order_it_holds(storage: Storage, status: int) -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 500.0)
        broker = AlpacaBroker("acct_1", KEY, SECRET, url_override=server.base_url, timeout_seconds=2.0)
        server.fail_route("POST", r"/v2/orders", status, after_processing=True)

        sent = send_orders(storage.events, broker, [ORDER], stream=STREAM, week_id=WEEK, run_id="r1")

        assert sent.refused == []
        recorded = storage.events.read_stream(STREAM)
        assert [e.type for e in recorded] == ["OrderSubmitted"]
        result = OrderSubmitted.from_event(recorded[0]).result
        assert result.status is OrderStatus.ACCEPTED
        assert result.broker_order_id == server.orders[ORDER.client_order_id]["id"]
        assert server.count("POST", "/v2/orders") == 1  # never sent twice


def test_a_408_before_alpaca_got_the_order_is_temporary_and_a_rerun_sends_it_once(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 500.0)
        broker = AlpacaBroker("acct_1", KEY, SECRET, url_override=server.base_url, timeout_seconds=2.0)
        server.fail_route("POST", r"/v2/orders", 408)

        with pytest.raises(BrokerUnavailable, match=r"did not receive order .*HTTP 408"):
            broker.submit(ORDER)

        assert server.orders == {}
        assert broker.submit(ORDER).status is OrderStatus.ACCEPTED
        assert list(server.orders) == [ORDER.client_order_id]
