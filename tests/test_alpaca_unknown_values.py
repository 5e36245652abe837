"""An Alpaca answer holding a value alpaca-py's enums do not know yet is read by name, not refused whole.

alpaca-py's models lag Alpaca's enums (alpacahq/alpaca-py #276 and #624: an asset exchange "ASCX", an asset class
"crypto_perp"; #436: an account's clearing broker). An audit: one position bought by hand on such a venue made every
read of the account fail (OperationalError), so no run could value it, check its stop-loss rules or record a fill until
alpaca-py was upgraded. The real alpaca-py client against the loopback fake, which serves the new values."""

from __future__ import annotations

from datetime import date

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.order_plan import plan_orders
from llmtrade.domain.trading import OrderStatus, Side
from tests.fakes.alpaca_server import FakeAlpacaServer

KEY, SECRET = "k", "s"


def test_an_account_holding_a_position_on_a_venue_alpaca_py_does_not_know_is_still_read_and_traded() -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET, fill_immediately=True) as server:
        for symbol, price in (("SPY", 100.0), ("XYZ", 5.0)):
            server.set_price(symbol, price)
        server.set_position("SPY", 10, 100.0)
        server.set_position("XYZ", 3, 5.0)  # bought by hand
        broker = AlpacaBroker("acct_1", KEY, SECRET, url_override=server.base_url, timeout_seconds=2.0)
        typed = broker.account({})  # read through alpaca-py's models
        server.venues["XYZ"] = "NEWEX"

        account = broker.account({})  # before: OperationalError, "a shape alpaca-py cannot read"

        assert {s: p.qty for s, p in account.positions.items()} == {"SPY": 10, "XYZ": 3}
        assert account == typed  # read by name, the same snapshot as the models give
        [close] = plan_orders(date(2026, 1, 7), "acct_1", {"SPY": account.positions["SPY"]}, "SPY", 0)
        done = broker.submit(close)
        assert (close.side, done.status) == (Side.SELL, OrderStatus.FILLED)
        assert [f.client_order_id for f in broker.fills()] == [close.client_order_id]
        assert broker.find(close.client_order_id) == done


def test_an_order_listing_with_a_value_alpaca_py_does_not_know_is_still_read() -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:  # closed: the order waits for the open
        server.set_price("SPY", 100.0)
        broker = AlpacaBroker("acct_1", KEY, SECRET, url_override=server.base_url, timeout_seconds=2.0)
        [buy] = plan_orders(date(2026, 1, 7), "acct_1", {}, "SPY", 4)
        broker.submit(buy)
        server.orders[buy.client_order_id]["order_class"] = "newclass"  # a class alpaca-py's OrderClass lacks

        [working] = broker.open_orders()

        assert (working.client_order_id, working.qty) == (buy.client_order_id, 4)
        assert broker.find(buy.client_order_id) is not None
