"""Closing a checkpoint past its deadline when its plan's orders are not all recorded, so the broker is asked: the
account's broker changed since the plan (alpaca to paper in accounts.yaml) or none is configured, and Alpaca holding
one order partly filled. The closing asked nobody and said "judged, not traded" when the broker had changed (the orders
may be at alpaca, filled), and listed "not looked up" orders "at the broker"; a partial fill read as "accepted". Now
what could not be looked up is said so, why and which, and a partial fill says how much filled."""

from __future__ import annotations

from datetime import UTC, datetime

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.paper import PaperBroker
from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import Order, OrderResult, OrdersPlanned, OrderStatus, OrderSubmitted, Side
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.checkpoint_close import Left, close_unjudged
from llmtrade.workflows.checkpoint_slot import Slot
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_paper_broker import WEEK, Opens, _broker, _order

SLOT = Slot(day=WEEK, time="12:00")
DEADLINE = datetime(2026, 1, 7, 19, 0, tzinfo=UTC)  # 14:00 New York
LEFT = Left(["acct_1"], "interrupted: its run r1 (started 12:00) ended without a word (killed?)", "r1")


def _planned(storage: Storage, broker: str, *orders: Order) -> None:
    plan = OrdersPlanned(account_id="acct_1", broker=broker, orders=list(orders), positions_before={})
    stream = SLOT.stream(WEEK, "acct_1")
    storage.events.append([NewEvent.of(plan, stream=stream, week_id=WEEK, run_id="r1", account_id="acct_1")])


def _paper(storage: Storage) -> PaperBroker:
    return _broker(storage, FixedClock(DEADLINE), Opens({}))


def test_a_plan_for_another_broker_is_said_not_looked_up_not_untraded(storage: Storage) -> None:
    exit_order = _order("SPY", Side.SELL, 10, "exit")
    _planned(storage, "alpaca", exit_order)
    paper = _paper(storage)
    line = close_unjudged(storage.events, SLOT, WEEK, DEADLINE, LEFT, lambda _account: paper)
    assert "judged, orders not looked up (planned for the alpaca broker, the account now uses paper" in line, line
    assert "sell 10 SPY" in line and "not traded" not in line, line
    assert (
        paper.find(_order("SPY", Side.SELL, 10, "exit").client_order_id) is None
    )  # the other broker was not sent it either


def test_without_a_broker_only_the_orders_not_recorded_are_said_not_looked_up(storage: Storage) -> None:
    sold, bought = _order("SPY", Side.SELL, 10, "exit"), _order("TLT", Side.BUY, 4, "open")
    _planned(storage, "paper", sold, bought)
    taken = OrderResult(client_order_id=sold.client_order_id, status=OrderStatus.FILLED, filled_qty=10)
    recorded = OrderSubmitted(order=sold, broker="paper", result=taken)
    storage.events.append(
        [NewEvent.of(recorded, stream=week_stream(WEEK, ORDERS), week_id=WEEK, run_id="r1", account_id="acct_1")]
    )
    line = close_unjudged(storage.events, SLOT, WEEK, DEADLINE, LEFT, lambda _account: None)
    assert "judged, orders at the broker (sell 10 SPY filled); orders not looked up (no broker configured" in line
    assert line.count("SPY") == 1 and "buy 4 TLT" in line, line


def test_an_order_alpaca_holds_partly_filled_is_recorded_from_its_answer_and_said_so(storage: Storage) -> None:
    """The run died after Alpaca took acct_1's exit; by the closing 4 of its 10 shares filled and one order of the plan
    never reached Alpaca (its lookup answers 404, through alpaca-py's own error)."""
    sold, bought = _order("SPY", Side.SELL, 10, "exit"), _order("TLT", Side.BUY, 4, "open")
    _planned(storage, "alpaca", sold, bought)
    with FakeAlpacaServer(key_id="k", secret_key="s") as server:
        server.fill_immediately = False
        server.set_price("SPY", 600)
        server.set_position("SPY", 10, 590.0)
        alpaca = AlpacaBroker("acct_1", "k", "s", url_override=server.base_url, timeout_seconds=2)
        assert alpaca.submit(sold).status is OrderStatus.ACCEPTED
        server.partially_fill(sold.client_order_id, 4, 599.5)
        line = close_unjudged(storage.events, SLOT, WEEK, DEADLINE, LEFT, lambda _account: alpaca)
    assert "acct_1 judged, orders at the broker (sell 10 SPY accepted (4 filled)) by the deadline" in line, line
    assert "TLT" not in line  # never at Alpaca: nothing to say of it but that the account was judged
    [recorded] = [OrderSubmitted.from_event(e) for e in storage.events.read(type=OrderSubmitted.event_type())]
    assert (recorded.order, recorded.broker, recorded.result.status) == (sold, "alpaca", OrderStatus.ACCEPTED)
    assert (recorded.result.filled_qty, recorded.result.fill_price) == (4, 599.5)
