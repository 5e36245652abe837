"""An order of llmtrade's that Alpaca scaled for a split while it was open (alpacahq/alpaca-py #469: the qty times the
split's ratio): a rerun's POST answered "client_order_id must be unique", or a lookup after an ambiguous POST, finds it
for other shares than llmtrade sent. Before, `_same_order` compared the qty and recorded the order refused, though
Alpaca held it and would fill it; now the id (llmtrade's own, unique) with the symbol and side is the order, and a qty
scaled by a split's ratio is said in its result. What llmtrade cannot reconcile (another symbol or side, or a qty no
split explains) is an error of the run, said, and never a refusal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmtrade.domain.trading import OrderStatus, Side
from llmtrade.errors import BrokerRejected, OperationalError
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_broker import KEY_ID, ORDERS, SECRET, broker_for, order


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        yield fake


def test_a_rerun_finds_its_order_scaled_by_a_split_and_takes_it(server: FakeAlpacaServer) -> None:
    server.set_price("SPY", 600)
    broker = broker_for(server)
    first = broker.submit(order())
    server.split("SPY", 4)  # Alpaca scales the open order: 10 -> 40 shares

    again = broker.submit(order())  # the rerun: 422 duplicate id, then the lookup

    assert again.status is OrderStatus.ACCEPTED
    assert again.broker_order_id == first.broker_order_id
    assert "alpaca holds it for 40 shares, 10 sent" in again.message
    assert len(server.orders) == 1


def test_a_lookup_after_a_lost_answer_finds_the_order_scaled_by_a_split(server: FakeAlpacaServer) -> None:
    server.set_price("SPY", 600)
    server.fail_route("POST", ORDERS, 504, after_processing=True)  # stored, the answer lost
    server.after_next("POST", ORDERS, lambda: server.split("SPY", 0.5))  # a reverse split before the lookup
    broker = broker_for(server)

    found = broker.submit(order())

    assert found.status is OrderStatus.ACCEPTED
    assert "alpaca holds it for 5 shares, 10 sent" in found.message
    assert len(server.orders) == 1


@pytest.mark.parametrize(
    "changes", [{"qty": 17}, {"symbol": "QQQ"}, {"side": Side.SELL}], ids=["qty no split explains", "symbol", "side"]
)
def test_an_order_under_our_id_that_cannot_be_reconciled_is_an_error_never_a_refusal(
    server: FakeAlpacaServer, changes: dict[str, object]
) -> None:
    server.set_price("SPY", 600)
    server.set_price("QQQ", 500)
    server.set_position("SPY", 100, 590)
    broker = broker_for(server)
    broker.submit(order())

    with pytest.raises(OperationalError, match="already names an order at alpaca") as raised:
        broker.submit(order(**changes))

    assert not isinstance(raised.value, BrokerRejected)  # Alpaca holds an order under this id: never booked refused
    assert "is not recorded refused" in str(raised.value)
    assert len(server.orders) == 1
