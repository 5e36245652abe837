"""A cancel of an Alpaca order that a person begins to replace between the cancel's look and its DELETE: Alpaca refuses
the DELETE (422: "pending_replace" rejects a cancel), and the replace lands before the look after it. The order working
in the plan's order's place then is the replacement, never asked to cancel: no end of another hand's. The real alpaca-py
client against the loopback fake."""

from __future__ import annotations

import pytest

from llmtrade.brokers.fills import record_new_fills
from llmtrade.domain.breaker import BreakerCancelFailed
from llmtrade.domain.trading import OrderStatus
from llmtrade.errors import BrokerUnavailable
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_order_ends import CID, KEY, SECRET, WEEK
from tests.test_alpaca_replace_gaps import routed
from tests.test_alpaca_replaced_orders import _ends


def test_a_replace_that_lands_between_the_cancels_refusal_and_its_look_is_canceled_not_taken_for_another_hands(
    storage: Storage,
) -> None:
    """The halt's cancel looked the plan's opening order up (working), a person's replace began before its DELETE
    (refused, 422) and landed before the look after it: the replacement was found working and the answer read "not
    asked" (taken for a cancel under way by another hand): the halt took its request back and the replacement, an
    opening order of a halted account, went on working, free to fill. Now the replacement is asked to cancel."""
    from llmtrade.risk.halt_cancels import cancel_opening_orders

    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = routed(storage, server)
        replaced: list[str] = []
        # The cancel's look (after the listing of the open orders) finds the order working; the replace begins then.
        server.after_next(
            "GET", r"/v2/orders:by_client_order_id", lambda: replaced.append(server.replace_order(CID, pending=True))
        )
        server.after_next("DELETE", r"/v2/orders/[^/]+", server.settle_replaces)  # lands just after the refusal

        canceled = cancel_opening_orders(storage.events, broker, {}, "drawdown 21%", week_id=WEEK, run_id="r2")

        [replacement] = replaced
        assert server.orders[replacement]["status"] == "canceled"
        assert [c.client_order_id for c in canceled] == [CID]
        assert storage.events.read(type=BreakerCancelFailed.event_type()) == []
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")
        [ended] = _ends(storage)
        assert ended.status is OrderStatus.CANCELED and "circuit breaker" in ended.reason


def test_a_refused_cancel_whose_order_cannot_be_looked_up_after_is_not_made_not_taken_for_another_hands(
    storage: Storage,
) -> None:
    """The halt's DELETE refused (422: a person's replace began between the cancel's look and it) and the look after it
    failed (503): the order's state unknown, the answer was "not asked" with the order as first found (working), which
    the halt read as a cancel under way by another hand: its request taken back as such, no error, and the
    replacement, an opening order of a halted account, left working until a later job's look, hours away. A cancel
    refused and not looked up is a cancel not made: the halt says so and the job stops as temporary (its rerun asks
    again)."""
    from llmtrade.risk.halt_cancels import cancel_opening_orders

    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = routed(storage, server)
        replaced: list[str] = []
        server.after_next(
            "GET", r"/v2/orders:by_client_order_id", lambda: replaced.append(server.replace_order(CID, pending=True))
        )
        server.after_next(
            "DELETE", r"/v2/orders/[^/]+", lambda: server.fail_route("GET", r"/v2/orders:by_client_order_id", 503)
        )

        with pytest.raises(BrokerUnavailable):
            cancel_opening_orders(storage.events, broker, {}, "drawdown 21%", week_id=WEEK, run_id="r2")

        [failed] = [
            BreakerCancelFailed.from_event(e) for e in storage.events.read(type=BreakerCancelFailed.event_type())
        ]
        assert failed.client_order_id == CID and "another hand" not in failed.reason
        # The replace lands: the rerun's cancel reaches the replacement.
        server.settle_replaces()
        canceled = cancel_opening_orders(storage.events, broker, {}, "drawdown 21%", week_id=WEEK, run_id="r3")
        assert [c.client_order_id for c in canceled] == [CID]
        assert server.orders[replaced[0]]["status"] == "canceled"


@pytest.mark.parametrize("status", [404, 422])
def test_a_refused_cancel_of_an_order_that_still_works_is_not_made_and_asked_again(
    storage: Storage, status: int
) -> None:
    """The halt's DELETE answered 404 (for the order its look had just found) or 422, and the order still works, no
    cancel under way: a 404 stopped the job for good (BrokerRejected, exit 1) although the next look could cancel it,
    and a 422 was answered "not asked", which the halt took for a cancel by another hand, leaving the order free to
    fill. Either is a cancel not made (exit 75), and the rerun's cancel reaches the order."""
    from llmtrade.risk.halt_cancels import cancel_opening_orders

    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker = routed(storage, server)
        server.fail_route("DELETE", r"/v2/orders/[^/]+", status)

        with pytest.raises(BrokerUnavailable):
            cancel_opening_orders(storage.events, broker, {}, "drawdown 21%", week_id=WEEK, run_id="r2")

        [failed] = [
            BreakerCancelFailed.from_event(e) for e in storage.events.read(type=BreakerCancelFailed.event_type())
        ]
        assert failed.client_order_id == CID and "another hand" not in failed.reason
        canceled = cancel_opening_orders(storage.events, broker, {}, "drawdown 21%", week_id=WEEK, run_id="r3")
        assert [c.client_order_id for c in canceled] == [CID]
        [order] = [o for o in server.orders.values() if o["client_order_id"] == CID]
        assert order["status"] == "canceled"
