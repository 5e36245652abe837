"""An order in dollars (Alpaca's notional order, placed by hand in the web page) is listed with no shares: a halt's
`opening_orders` skipped it as done and `pending_position` left it out, so a halted account's by-hand "buy $5,000 of
QQQ" kept working through the halt that canceled every other opening order. Now it is an opening order unless its side
moves the position toward flat, and counts as of unknown size, at its worst for the order judged. The last test
drives the real alpaca-py client against the loopback fake."""

from __future__ import annotations

from datetime import UTC, datetime

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.domain.trading import BrokerOrder, OrderStatus, Position, Side
from llmtrade.risk.halt import may_send, opening_orders, pending_position
from llmtrade.risk.halt_cancels import cancel_opening_orders
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.fakes.by_hand import trade_by_hand
from tests.test_pending_cancel_exposure import WEEK, _order

HELD = {"SPY": Position(symbol="SPY", qty=100, avg_price=500.0)}


def _dollars(cid: str, side: Side) -> BrokerOrder:
    return BrokerOrder(
        client_order_id=cid, symbol="SPY", side=side, qty=0, status=OrderStatus.ACCEPTED, ordered="$5,000.00 of"
    )


def test_a_halt_cancels_an_order_in_dollars_that_opens_or_adds_and_keeps_one_that_reduces() -> None:
    assert [o.client_order_id for o in opening_orders(HELD, [_dollars("add", Side.BUY)])] == ["add"]
    assert [o.client_order_id for o in opening_orders({}, [_dollars("open", Side.BUY)])] == ["open"]
    assert [o.client_order_id for o in opening_orders({}, [_dollars("short", Side.SELL)])] == ["short"]
    assert opening_orders(HELD, [_dollars("cut", Side.SELL)]) == []


def test_an_order_in_dollars_counts_as_of_unknown_size_at_its_worst() -> None:
    sell = pending_position(HELD, [_dollars("cut", Side.SELL)], "SPY")
    assert not may_send(_order(Side.SELL, 100), sell)  # it may sell any of the 100: a close after it may short
    assert not may_send(_order(Side.SELL, 1), sell)
    buy = pending_position(HELD, [_dollars("add", Side.BUY)], "SPY")
    assert may_send(_order(Side.SELL, 100), buy)  # a buy of any size leaves a close of the 100 a reduction
    assert not may_send(_order(Side.BUY, 1), buy)


def test_a_halt_cancels_a_queued_order_in_dollars_placed_by_hand(storage: Storage) -> None:
    with FakeAlpacaServer(key_id="k", secret_key="s") as server:
        server.set_price("QQQ", 400.0)
        server.set_time(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))  # the market is closed: queued for the open
        broker = AlpacaBroker("acct_1", "k", "s", url_override=server.base_url, timeout_seconds=2.0)
        by_hand = trade_by_hand(server, "QQQ", None, notional=5000)
        assert server.orders[by_hand]["status"] == "accepted"

        canceled = cancel_opening_orders(storage.events, broker, {}, "drawdown 30%", week_id=WEEK, run_id="halt")

        assert [c.client_order_id for c in canceled] == [by_hand]
        assert server.orders[by_hand]["status"] in ("canceled", "pending_cancel")
