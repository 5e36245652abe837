"""An order whose cancel is under way (Alpaca's pending_cancel) usually ends canceled, but may still fill before the
cancel lands (an order the venue cannot cancel at the open fills instead). The halt's checks counted it as sure to
fill: an add canceled by the breaker and still pending let a halted account's sell larger than what it held pass as
reducing, and a short was opened if the cancel landed. Now it is counted both ways, and an order is judged at the
worse (risk/halt.py `PendingPosition`). The last test drives the real alpaca-py client against the loopback fake."""

from __future__ import annotations

from datetime import UTC, date, datetime

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import BrokerOrder, Order, OrderStatus, Position, Side
from llmtrade.risk.halt import may_send, opening_orders, pending_position
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.execution import send_orders
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_breaker_cancel_credit import _halt

WEEK = date(2026, 1, 5)
HELD = {"SPY": Position(symbol="SPY", qty=100, avg_price=500.0)}


def _order(side: Side, qty: int, *, cid: str = "x", intent: str = "resize") -> Order:
    return Order(
        client_order_id=cid, account_id="acct_1", week_id=WEEK, symbol="SPY", side=side, qty=qty, intent=intent
    )


def _queued(cid: str, side: Side, qty: int, *, canceling: bool = False, filled: int = 0) -> BrokerOrder:
    return BrokerOrder(
        client_order_id=cid,
        symbol="SPY",
        side=side,
        qty=qty,
        status=OrderStatus.ACCEPTED,
        filled_qty=filled,
        canceling=canceling,
    )


def test_a_halted_accounts_sell_is_judged_as_if_a_pending_canceled_add_did_not_fill() -> None:
    add = [_queued("add", Side.BUY, 50, canceling=True)]  # the breaker's cancel of an add, still pending
    pending = pending_position(HELD, add, "SPY")
    assert not may_send(_order(Side.SELL, 120), pending)  # 100 held if the cancel lands: a sell of 120 opens a short
    assert may_send(_order(Side.SELL, 100), pending)  # a close of what is held reduces whichever way it ends


def test_a_halted_accounts_close_is_judged_as_if_a_pending_canceled_close_filled() -> None:
    close = [_queued("close", Side.SELL, 60, canceling=True, filled=20)]  # 40 left, which may fill yet
    pending = pending_position(HELD, close, "SPY")
    assert may_send(_order(Side.SELL, 60), pending)  # 60 left if its 40 fill: still a reduction
    assert not may_send(_order(Side.SELL, 61), pending)
    assert not may_send(_order(Side.BUY, 1), pending)  # an add, whichever way it ends


def test_an_order_still_working_counts_as_filling() -> None:
    close = [_queued("close", Side.SELL, 100)]  # queued for the open, no cancel asked
    assert not may_send(_order(Side.SELL, 1), pending_position(HELD, close, "SPY"))  # the two closes would short


def test_a_halt_cancels_a_queued_sell_that_a_pending_canceled_buy_alone_would_cover() -> None:
    """Flat, a buy whose cancel is under way, and a sell queued behind it: counted as sure to fill, the buy made the
    sell a close and it was kept; if the cancel lands the sell opens a short on the halted account."""
    queued = [_queued("buy", Side.BUY, 50, canceling=True), _queued("sell", Side.SELL, 30)]
    assert [o.client_order_id for o in opening_orders({}, queued)] == ["sell"]


def test_a_halt_asks_no_cancel_of_an_order_whose_cancel_is_under_way() -> None:
    queued = [_queued("buy", Side.BUY, 50, canceling=True), _queued("add", Side.BUY, 10)]
    assert [o.client_order_id for o in opening_orders(HELD, queued)] == ["add"]


def test_a_halted_accounts_opening_leg_is_blocked_while_an_add_it_canceled_may_not_fill(storage: Storage) -> None:
    """The account held 100 SPY and had an add of 50 queued; halted, the breaker asked Alpaca to cancel the add, and
    the cancel sat in pending_cancel. The plan's side change closed the 100 (filled) and its opening leg, a short of
    20, was judged against 50 (the pending add counted as filled) and sent: a halted account opened a short once the
    cancel landed. Now the leg is judged against the 0 held if the cancel lands, and blocked."""
    with FakeAlpacaServer(key_id="k", secret_key="s") as server:
        server.set_price("SPY", 500.0)
        server.add_asset("SPY", shortable=True)
        server.set_position("SPY", 100, 500.0)
        server.set_time(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))  # before the open: the add queues
        # Alpaca would refuse the close as a potential wash trade while the add is pending_cancel (still open): this
        # test is about the leg judged after a close that went, so the fake lets it go.
        server.refuse_wash_trades = False
        broker = AlpacaBroker("acct_1", "k", "s", url_override=server.base_url, timeout_seconds=2.0)
        add = "lt-20260105-acct_1-SPY-resize"
        broker.submit(_order(Side.BUY, 50, cid=add))
        server.orders[add]["status"] = "pending_cancel"  # the breaker's cancel, which the venue has not taken yet
        _halt(storage)
        server.fill_immediately = True  # the market is open
        close = _order(Side.SELL, 100, cid="lt-20260105-acct_1-SPY-close", intent="close")
        leg = _order(Side.SELL, 20, cid="lt-20260105-acct_1-SPY-open", intent="open")

        send_orders(storage.events, broker, [close, leg], stream=week_stream(WEEK, ORDERS), week_id=WEEK, run_id="r")

        assert server.orders[close.client_order_id]["status"] == "filled"  # the close reduces: it goes
        assert leg.client_order_id not in server.orders  # the short is not sent
        [blocked] = storage.events.read(type="OrderBlocked")
        assert blocked.payload["client_order_id"] == leg.client_order_id
