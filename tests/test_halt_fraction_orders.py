"""A by-hand order for a fraction of a share was listed rounded up to whole shares, and that rounded size fed the
halt's pending range, while the position beside it counts its fraction apart (AccountSnapshot.fractions): holding
10.5 SPY with a by-hand sell of 0.5 queued, the least the account might hold read 9 (10 - 1) and a halted account's
close of its 10 was blocked as crossing zero, though 10 remain. Now the order's exact size is set against the
position's exact shares. The last test drives the real alpaca-py client against the loopback fake."""

from __future__ import annotations

from datetime import UTC, datetime

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import BrokerOrder, OrderStatus, Position, Side
from llmtrade.risk.halt import may_send, opening_orders, pending_position
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.execution import send_orders
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.fakes.by_hand import trade_by_hand
from tests.test_breaker_cancel_credit import _halt
from tests.test_pending_cancel_exposure import WEEK, _order

HELD = {"SPY": Position(symbol="SPY", qty=10, avg_price=500.0)}
HALF = {"SPY": 0.5}


def _fraction(side: Side, shares: str) -> BrokerOrder:
    whole = int(-(-float(shares) // 1))  # rounded up, as alpaca_orders lists it
    return BrokerOrder(
        client_order_id="hand", symbol="SPY", side=side, qty=whole, status=OrderStatus.ACCEPTED, ordered=shares
    )


def test_a_fraction_sold_by_hand_is_set_against_the_fraction_held() -> None:
    pending = pending_position(HELD, [_fraction(Side.SELL, "0.5")], "SPY", HALF)
    assert may_send(_order(Side.SELL, 10), pending)  # 10.5 - 0.5 leaves the 10 it closes
    assert not may_send(_order(Side.SELL, 11), pending)
    less = pending_position(HELD, [_fraction(Side.SELL, "0.7")], "SPY", HALF)
    assert not may_send(_order(Side.SELL, 10), less)  # 9.8 left: a close of 10 would sell what is not held


def test_a_fraction_bought_by_hand_is_an_add_and_one_sold_of_a_fraction_held_a_reduction() -> None:
    assert [o.client_order_id for o in opening_orders(HELD, [_fraction(Side.BUY, "0.5")], HALF)] == ["hand"]
    assert opening_orders({}, [_fraction(Side.SELL, "0.5")], HALF) == []  # sells the half share held: no short


def test_a_halted_accounts_close_goes_while_a_fraction_sold_by_hand_is_queued(storage: Storage) -> None:
    with FakeAlpacaServer(key_id="k", secret_key="s") as server:
        server.set_price("SPY", 500.0)
        server.set_position("SPY", 10.5, 500.0)  # type: ignore[arg-type]  # a fraction, as Alpaca holds after a split
        server.set_time(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))  # before the open: orders queue
        broker = AlpacaBroker("acct_1", "k", "s", url_override=server.base_url, timeout_seconds=2.0)
        trade_by_hand(server, "SPY", 0.5, side="sell")
        _halt(storage)
        close = _order(Side.SELL, 10, cid="lt-20260105-acct_1-SPY-close", intent="close")

        send_orders(storage.events, broker, [close], stream=week_stream(WEEK, ORDERS), week_id=WEEK, run_id="r")

        assert storage.events.read(type="OrderBlocked") == []
        assert server.orders[close.client_order_id]["status"] == "accepted"  # queued for the open beside the half
