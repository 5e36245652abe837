"""Replacements Alpaca makes or shows otherwise than the dashboard's "edit": one for a market event such as a corporate
action, whose old order names no `replaced_by` (its order status documentation: "replaced ... or was updated due to a
market event such as corporate action"), and one whose `replaced_by` GET /v2/orders/{id} does not find. The order
"replaced" is no end of the plan's trade: the order working in its place is asked of the account's orders (the one
whose `replaces` is it) before anything is assumed. The real alpaca-py client against the loopback fake."""

from __future__ import annotations

import pytest

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.fills import record_new_fills
from llmtrade.domain.breaker import BreakerCancelFailed
from llmtrade.domain.trading import Order, OrderStatus
from llmtrade.errors import BrokerUnavailable
from llmtrade.market.alpaca_limits import RateLimitWaits
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.execution import send_orders
from tests.fakes.alpaca_server import FakeAlpacaServer, Wall
from tests.test_alpaca_order_ends import CID, KEY, ORDER, SECRET, STREAM, WEEK
from tests.test_alpaca_replaced_orders import NIGHT, OPEN, _ends, _fills, _replaced


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


def routed(storage: Storage, server: FakeAlpacaServer, order: Order = ORDER) -> AlpacaBroker:
    """`order` sent at night (SPY at 500) and routed at the open: the broker, whose waits step the fake's clock (a
    cancel's wait for a replace to land takes no real time)."""
    server.set_price("SPY", 500.0)
    server.set_time(NIGHT)
    wall = Wall()
    server.wall = wall
    waits = RateLimitWaits(wall=wall, sleep=wall.sleep)
    broker = AlpacaBroker("acct_1", KEY, SECRET, url_override=server.base_url, timeout_seconds=2.0, waits=waits)
    send_orders(storage.events, broker, [order], stream=STREAM, week_id=WEEK, run_id="r1")
    server.set_time(OPEN)
    server.mark_routed(order.client_order_id)
    return broker


def _halting(storage: Storage, server: FakeAlpacaServer) -> tuple[AlpacaBroker, str]:
    """The week's opening order queued, routed at the open and being replaced by a person (pending_replace: the
    replacement pending_new, not at the venue yet), when the account halts: the broker (its waits step the fake's
    clock) and the replacement's client_order_id."""
    broker = routed(storage, server)
    replacement = server.replace_order(CID, pending=True)
    assert (server.orders[CID]["status"], server.orders[replacement]["status"]) == ("pending_replace", "pending_new")
    return broker, replacement


def test_a_halts_cancel_of_an_order_being_replaced_reaches_the_replacement_once_the_replace_lands(
    storage: Storage,
) -> None:
    """Alpaca refuses to cancel an order in pending_replace. The halt's DELETE met that refusal and read it as a cancel
    made by another hand ("not asked"): the request was taken back and the replacement, an opening order of a halted
    account, went on working until a later look, free to fill. The cancel now waits the replace out (moments) and
    cancels the order working in its place."""
    from llmtrade.risk.halt_cancels import cancel_opening_orders

    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker, replacement = _halting(storage, server)
        server.after_next("GET", r"/v2/orders:by_client_order_id", server.settle_replaces)  # lands during the cancel

        canceled = cancel_opening_orders(storage.events, broker, {}, "drawdown 21%", week_id=WEEK, run_id="r2")

        assert server.orders[replacement]["status"] == "canceled"
        assert [c.client_order_id for c in canceled] == [CID]
        assert storage.events.read(type=BreakerCancelFailed.event_type()) == []
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")
        [ended] = _ends(storage)
        assert ended.status is OrderStatus.CANCELED and "circuit breaker" in ended.reason


def test_a_cancel_of_an_order_still_being_replaced_is_not_made_and_says_why(storage: Storage) -> None:
    """The replace still under way after the broker's short wait: no cancel could be made, and the halt says so (its
    request taken back with Alpaca's reason, the job stopped as temporary: the next look asks again), not that another
    hand canceled it."""
    from llmtrade.risk.halt_cancels import cancel_opening_orders

    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker, replacement = _halting(storage, server)

        with pytest.raises(BrokerUnavailable, match="pending_replace"):
            cancel_opening_orders(storage.events, broker, {}, "drawdown 21%", week_id=WEEK, run_id="r2")

        [failed] = [
            BreakerCancelFailed.from_event(e) for e in storage.events.read(type=BreakerCancelFailed.event_type())
        ]
        assert failed.client_order_id == CID and "pending_replace" in failed.reason
        assert "another hand" not in failed.reason
        assert server.orders[replacement]["status"] == "pending_new"
        # The replace lands: the next look's cancel reaches the replacement.
        server.settle_replaces()
        canceled = cancel_opening_orders(storage.events, broker, {}, "drawdown 21%", week_id=WEEK, run_id="r3")
        assert [c.client_order_id for c in canceled] == [CID]
        assert server.orders[replacement]["status"] == "canceled"


def test_an_order_that_filled_before_its_replace_landed_is_its_own_fill(storage: Storage) -> None:
    """Alpaca's PATCH does not guarantee the replace: the order filled at its venue first and the replacement was
    rejected. The plan's order is filled, once, at its own price; nothing ended, nothing sent again."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        broker, replacement = _halting(storage, server)
        server.settle_replaces(filled=True)
        assert server.orders[replacement]["status"] == "rejected"

        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")

        [filled] = _fills(storage)
        assert (filled.fill.client_order_id, filled.fill.qty, filled.fill.price) == (CID, 10, 500.0)
        assert _ends(storage) == []
        found = broker.find(CID)
        assert found is not None and found.status is OrderStatus.FILLED
        posts = server.count("POST", "/v2/orders")
        send_orders(storage.events, broker, [ORDER], stream=STREAM, week_id=WEEK, run_id="r3")
        assert server.count("POST", "/v2/orders") == posts


@pytest.mark.parametrize("pending", [False, True])
@pytest.mark.parametrize("at", [1, 2])
def test_a_part_filled_order_replaced_while_the_orders_are_listed_is_booked_once_whole(
    storage: Storage, pending: bool, at: int
) -> None:
    """The plan's buy of 10 filled 4, then a person replaced it with a buy of the 6 left while a look read the
    account's orders: between its open orders' listing and its listing of every order (`at` 1), or just after both
    (`at` 2); the replace landing at once or left under way (`pending`). The look reads the open orders first, and an
    order ended (replaced) never works again: whichever order works in the plan's order's place keeps its id working,
    so no part fill is booked alone (the replacement's shares then refused as a second fill of the order, and held as
    if by hand). Its fill is booked once the chain is done: 10 at their average, llmtrade's."""
    from llmtrade.brokers.reconcile import managed_positions

    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 500.0)
        server.set_time(NIGHT)
        broker = AlpacaBroker("acct_1", KEY, SECRET, url_override=server.base_url, timeout_seconds=2.0)
        send_orders(storage.events, broker, [ORDER], stream=STREAM, week_id=WEEK, run_id="r1")
        server.set_time(OPEN)
        server.mark_routed(CID)
        server.partially_fill(CID, 4, 500.0)
        listings = []

        def race() -> None:
            listings.append(1)
            if len(listings) == at:
                server.replace_order(CID, qty=6, pending=pending)

        server.after_next("GET", "/v2/orders", race, times=at)

        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")

        assert len(listings) == at and _fills(storage) == [] and _ends(storage) == []
        if pending:
            server.settle_replaces()
        server.set_price("SPY", 505.0)
        server.fill_open_orders()
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r4")

        [filled] = _fills(storage)
        assert (filled.fill.client_order_id, filled.fill.qty, filled.fill.price) == (CID, 10, 503.0)
        assert _ends(storage) == []
        assert managed_positions(storage.events, broker) == {"SPY": 10}


def test_a_halt_leaves_a_close_being_replaced_working_its_two_orders_counted_as_one(storage: Storage) -> None:
    """A halted account's close (sell 10 of 10 held) filled 4 and was being replaced by a person with a sell of the 6
    left: Alpaca lists both, the old order pending_replace and the new one pending_new, and only one of them works on
    (the new, once the replace lands; the old, if it fills first). Counted as two sells of 6 against the 6 held, the
    second read as opening a short, and the halt's cancel, waiting the replace out, canceled the close."""
    from llmtrade.risk.halt_cancels import cancel_opening_orders
    from tests.test_alpaca_replaced_orders import CLOSE, CLOSE_ID

    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_position("SPY", 10, 490.0)
        broker = routed(storage, server, CLOSE)
        server.partially_fill(CLOSE_ID, 4, 500.0)
        replacement = server.replace_order(CLOSE_ID, qty=6, pending=True)
        server.after_next("GET", r"/v2/orders:by_client_order_id", server.settle_replaces)  # lands during a cancel
        held = broker.account({}).positions
        assert held["SPY"].qty == 6

        [working] = broker.open_orders()  # the plan's close, once: the larger of what its two orders may still sell
        assert (working.client_order_id, working.qty - working.filled_qty) == (CLOSE_ID, 6)
        canceled = cancel_opening_orders(storage.events, broker, held, "drawdown 21%", week_id=WEEK, run_id="r2")

        assert canceled == []
        if server.orders[CLOSE_ID]["status"] == "pending_replace":  # no cancel asked: no look-up landed it
            server.settle_replaces()
        assert server.orders[replacement]["status"] == "new"  # the close works on
