"""Replacements Alpaca makes or shows otherwise than the dashboard's "edit": one for a market event such as a corporate
action, whose old order names no `replaced_by` (its order status documentation: "replaced ... or was updated due to a
market event such as corporate action"), and one whose `replaced_by` GET /v2/orders/{id} does not find. The order
"replaced" is no end of the plan's trade: the order working in its place is asked of the account's orders (the one
whose `replaces` is it) before anything is assumed. The real alpaca-py client against the loopback fake."""

from __future__ import annotations

from llmtrade.brokers.fills import record_new_fills
from llmtrade.domain.trading import OrderStatus
from llmtrade.errors import BrokerUnavailable
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_order_ends import CID, KEY, ORDER, SECRET, WEEK
from tests.test_alpaca_replaced_orders import _ends, _fills, _replaced


def test_an_order_replaced_for_a_corporate_action_is_followed_to_its_replacement_not_ended(storage: Storage) -> None:
    """Alpaca ends the plan's order "replaced" with no replaced_by and works a new order that `replaces` it. Read by
    its client_order_id it looked dead (REJECTED): a halt's cancel stopped at it ("ended already") and left the
    replacement, an opening order of a halted account, working; now the cancel reaches the replacement."""
    from llmtrade.risk.halt_cancels import cancel_opening_orders

    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker, _ = _replaced(storage, server, [ORDER], CID, named=False)
        replacement = next(c for c, o in server.orders.items() if o["replaces"] == server.orders[CID]["id"])
        assert server.orders[CID]["replaced_by"] is None

        found = broker.find(CID)
        assert found is not None and found.status is OrderStatus.ACCEPTED  # working, as its replacement
        assert found.broker_order_id == server.orders[replacement]["id"]

        canceled = cancel_opening_orders(storage.events, broker, {}, "drawdown 21%", week_id=WEEK, run_id="r2")

        assert server.orders[replacement]["status"] == "canceled"
        assert [c.client_order_id for c in canceled] == [CID]
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")
        [ended] = _ends(storage)
        assert ended.status is OrderStatus.CANCELED and "circuit breaker" in ended.reason


def test_a_replacement_alpaca_does_not_show_is_no_end_and_no_cancel_is_assumed(storage: Storage) -> None:
    """replaced_by names an order GET /v2/orders/{id} answers 404 for, and the account's orders show none replacing
    it (yet): the plan's order is taken as working, not ended ("the trade did not happen" while the replacement may
    fill), and a cancel of it is not made (a raise: the breaker takes its request back), not "ended already"."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker, replacement = _replaced(storage, server, [ORDER], CID)
        new_id = server.orders[replacement]["id"]
        server.orders[replacement]["replaces"] = None  # unseen: no order of the account shows it replacing ours
        server.fail_route("GET", f"/v2/orders/{new_id}", 404, times=100)
        server.end_order(replacement, "canceled")  # not listed open: the end look reaches the plan's order

        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")

        assert _ends(storage) == [] and _fills(storage) == []
        found = broker.find(CID)
        assert found is not None and found.status is OrderStatus.ACCEPTED
        assert "does not show" in found.message
        try:
            broker.cancel(CID)
        except BrokerUnavailable as exc:
            assert "does not show" in str(exc)
        else:
            raise AssertionError("a cancel that cannot reach the replacement was taken as made")
