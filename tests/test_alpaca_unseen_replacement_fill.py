"""An order of llmtrade's part filled and then replaced at Alpaca by an order Alpaca does not show (yet): its
`replaced_by` answered 404 and no order of the account's listed `replaces` it. The order "replaced" is no end
(brokers/alpaca_chains.py): its part fill is not the order's final fill either. The real alpaca-py client against the
loopback fake."""

from __future__ import annotations

from llmtrade.brokers.fills import record_new_fills
from llmtrade.brokers.reconcile import managed_positions
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.execution import send_orders
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_order_ends import CID, KEY, ORDER, SECRET, STREAM, WEEK
from tests.test_alpaca_replaced_orders import NIGHT, OPEN, _broker, _ends, _fills


def test_a_part_fill_of_an_order_replaced_by_one_alpaca_does_not_show_is_not_booked_as_its_final_fill(
    storage: Storage,
) -> None:
    """The plan's buy of 10 filled 4 and was replaced by a buy of the 6 left, which a look could not see (GET
    /v2/orders/{replaced_by} 404, the listing showing no order replacing it yet). The look booked the 4 as the order's
    one, final fill (OrderFilled is written once per order): once the replacement showed and filled, its 6 shares were
    refused as a second fill of the order and held as if bought by hand. The order is working while its replacement is
    unseen, so nothing is booked until the chain is done: 10 at their average, llmtrade's."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 500.0)
        server.set_time(NIGHT)
        broker = _broker(server)
        send_orders(storage.events, broker, [ORDER], stream=STREAM, week_id=WEEK, run_id="r1")
        server.set_time(OPEN)
        server.mark_routed(CID)
        server.partially_fill(CID, 4, 500.0)
        replacement = server.replace_order(CID, qty=6)
        old_id, new_id = server.orders[CID]["id"], server.orders[replacement]["id"]
        server.orders[replacement]["replaces"] = None  # unseen: no order of the account shows it replacing ours
        server.fail_route("GET", f"/v2/orders/{new_id}", 404, times=100)

        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")

        assert _fills(storage) == [] and _ends(storage) == []
        # Alpaca shows the replacement; it fills.
        server.reset()
        server.orders[replacement]["replaces"] = old_id
        server.set_price("SPY", 505.0)
        server.fill_open_orders()
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")

        [filled] = _fills(storage)
        assert (filled.fill.client_order_id, filled.fill.qty, filled.fill.price) == (CID, 10, 503.0)
        assert _ends(storage) == []
        assert managed_positions(storage.events, broker) == {"SPY": 10}
