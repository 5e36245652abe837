"""A halted account's opening orders are each asked to cancel, whichever cancel fails.

cancel_opening_orders raised out of its loop at the first cancel the broker failed (Alpaca's 5xx on the DELETE and
the look-up after it failing too): the account's later opening orders stayed working until a later job's look, free
to fill meanwhile. Every order is now asked; each failure is withdrawn as before (BreakerCancelFailed) and the first
is raised after the loop, so the job stops as it did. The real alpaca-py client against the loopback fake."""

from __future__ import annotations

import pytest

from llmtrade.domain.breaker import BreakerCancelFailed
from llmtrade.domain.trading import Order, Side
from llmtrade.errors import BrokerUnavailable
from llmtrade.risk.halt_cancels import cancel_opening_orders
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.execution import send_orders
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_order_ends import CID, KEY, SECRET, STREAM, WEEK, _ends, _queued

OTHER = "lt-20260105-acct_1-QQQ-open"


def test_a_failed_cancel_does_not_leave_the_accounts_later_opening_orders_working(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = _queued(storage, server)
        server.set_price("QQQ", 400.0)
        second = Order(
            client_order_id=OTHER, account_id="acct_1", week_id=WEEK, symbol="QQQ", side=Side.BUY, qty=5, intent="open"
        )
        send_orders(storage.events, broker, [second], stream=STREAM, week_id=WEEK, run_id="r1")
        assert server.orders[OTHER]["status"] == "accepted"
        lookups = r"/v2/orders:by_client_order_id"
        # The first DELETE answers 500 and the look-up after it fails too: that cancel is not known to be made.
        server.fail_route("DELETE", r"/v2/orders/[^/]+", 500)
        server.after_next("GET", lookups, lambda: server.fail_route("GET", lookups, 500))

        with pytest.raises(BrokerUnavailable):
            cancel_opening_orders(storage.events, broker, {}, "drawdown 30%", week_id=WEEK, run_id="halt")

        statuses = sorted(server.orders[cid]["status"] for cid in (CID, OTHER))
        assert statuses == ["accepted", "canceled"]  # the other order was asked and canceled in this same look
        withdrawn = storage.events.read(type=BreakerCancelFailed.event_type())
        [failed] = [BreakerCancelFailed.from_event(e) for e in withdrawn]
        [canceled] = _ends(storage)
        assert {failed.client_order_id, canceled.client_order_id} == {CID, OTHER}
        assert server.orders[failed.client_order_id]["status"] == "accepted"
        assert canceled.reason.startswith("circuit breaker: drawdown 30%"), canceled.reason
