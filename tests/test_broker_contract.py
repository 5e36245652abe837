"""The Broker contract (brokers/protocol.py), one suite for every broker.

Each test runs against the paper broker (real event store, a clock walked through real NYSE sessions)
and the Alpaca broker (real alpaca-py against the loopback fake), through `Venue` only
(tests/brokers/venues.py). A broker passes when it behaves as the protocol's docstrings say.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from llmtrade.brokers.fills import observe, record_new_fills
from llmtrade.brokers.order_plan import client_order_id
from llmtrade.brokers.protocol import Broker
from llmtrade.config.models import CircuitBreaker
from llmtrade.domain.trading import BrokerOrder, Fill, Order, OrderFilled, OrderStatus, Position, Side
from llmtrade.risk.controls import evaluate_breaker, halted
from llmtrade.storage.bootstrap import Storage
from tests.brokers.venues import ACCOUNT, NOT_SHORTABLE, START, VENUES, MovableClock, Venue

WEEK = date(2026, 1, 7)


@pytest.fixture
def clock() -> MovableClock:
    """The clock the venue walks through sessions, and the store's (conftest's `storage`): one clock, as a run's."""
    return MovableClock(START)


@pytest.fixture(params=sorted(VENUES))
def venue(request: pytest.FixtureRequest, storage: Storage, clock: MovableClock) -> Iterator[Venue]:
    with VENUES[request.param](storage, clock) as opened:
        yield opened


def order(symbol: str, side: Side, qty: int, intent: str = "open") -> Order:
    return Order(
        client_order_id=client_order_id(WEEK, ACCOUNT, symbol, intent),
        account_id=ACCOUNT,
        week_id=WEEK,
        symbol=symbol,
        side=side,
        qty=qty,
        intent=intent,
    )


def test_the_broker_has_every_protocol_member_with_its_signature(venue: Venue) -> None:
    broker = venue.broker
    members = [m for m in vars(Broker) if not m.startswith("_")] + list(Broker.__annotations__)
    assert {"account", "submit", "find", "open_orders", "fills", "cancel", "is_shortable"} <= set(members)
    for member in members:
        assert hasattr(broker, member), member
        wanted = getattr(Broker, member, None)
        if callable(wanted):
            assert (
                list(inspect.signature(getattr(broker, member)).parameters)
                == list(inspect.signature(wanted).parameters)[1:]
            ), member
    assert broker.account_id == ACCOUNT
    assert isinstance(broker.name, str) and broker.name


def test_reads_write_nothing_even_when_a_queued_order_has_become_fillable(venue: Venue) -> None:
    broker = venue.broker
    queued = broker.submit(order("SPY", Side.BUY, 10))
    assert queued.status is OrderStatus.ACCEPTED
    venue.open_session({"SPY": 500.0})
    before = venue.writes()

    snapshot = broker.account({"SPY": 510.0})
    broker.look_at({"SPY": 510.0})
    found = broker.find(queued.client_order_id)
    opened = broker.open_orders()
    fills = broker.fills()
    broker.fills(since=datetime(2026, 1, 1, tzinfo=UTC))
    broker.is_shortable("SPY")

    assert venue.writes() == before
    # ... and what the reads report is the fill all the same.
    assert snapshot.positions["SPY"].qty == 10
    assert found is not None and found.status is OrderStatus.FILLED
    assert opened == []
    assert [(f.symbol, f.qty) for f in fills] == [("SPY", 10)]


def test_one_look_is_none_or_the_account_and_what_observe_reads(venue: Venue) -> None:
    broker = venue.broker
    prices = {"SPY": 510.0}

    def looked_at_once() -> None:
        once = broker.look_at(prices)
        if once is None:  # a broker with no single look of its books (brokers/protocol.py)
            return
        account, seen = once
        apart = observe(broker)
        assert account == broker.account(prices)
        assert (list(seen.fills), seen.working, seen.orders) == (list(apart.fills), apart.working, apart.orders)

    broker.submit(order("SPY", Side.BUY, 10))
    looked_at_once()  # the order queued: working
    venue.open_session({"SPY": 500.0})
    looked_at_once()  # filled


def test_record_canceled_with_no_order_a_read_canceled_writes_nothing(venue: Venue) -> None:
    """Called by every job that records fills (brokers/fills.py): with nothing canceled behind the broker's back (no
    split between a queued order and its open), it is [] and writes nothing, queued or filled."""
    broker = venue.broker
    queued = broker.submit(order("SPY", Side.BUY, 10))
    before = venue.writes()
    assert broker.record_canceled(run_id="r-1") == []
    assert venue.writes() == before
    venue.open_session({"SPY": 500.0})
    assert broker.record_canceled(run_id="r-1") == []
    assert broker.find(queued.client_order_id).status is OrderStatus.FILLED


def test_submitting_the_same_client_order_id_twice_places_one_order(venue: Venue) -> None:
    broker = venue.broker
    first = broker.submit(order("SPY", Side.BUY, 10))
    second = broker.submit(order("SPY", Side.BUY, 10))

    assert second == first
    assert [o.client_order_id for o in broker.open_orders()] == [first.client_order_id]
    venue.open_session({"SPY": 500.0})
    assert [(f.client_order_id, f.qty) for f in broker.fills()] == [(first.client_order_id, 10)]
    assert broker.account({}).positions["SPY"].qty == 10


def test_find_of_an_unknown_id_is_none(venue: Venue) -> None:
    assert venue.broker.find("lt-never-sent") is None


def test_open_orders_lists_a_queued_order_and_not_a_filled_one(venue: Venue) -> None:
    broker = venue.broker
    queued = broker.submit(order("SPY", Side.BUY, 10))
    listed = broker.open_orders()

    assert len(listed) == 1 and isinstance(listed[0], BrokerOrder)
    assert (listed[0].client_order_id, listed[0].symbol, listed[0].side, listed[0].qty) == (
        queued.client_order_id,
        "SPY",
        Side.BUY,
        10,
    )
    assert listed[0].status is OrderStatus.ACCEPTED and listed[0].filled_qty == 0
    assert listed[0].submitted_at is not None and listed[0].submitted_at.tzinfo is not None

    venue.open_session({"SPY": 500.0, "QQQ": 400.0})
    filled = broker.submit(order("QQQ", Side.BUY, 5))

    assert filled.status is OrderStatus.FILLED
    assert broker.open_orders() == []


def test_fills_carry_price_qty_side_and_time_in_fill_order_and_since_keeps_the_later_ones(venue: Venue) -> None:
    broker = venue.broker
    venue.open_session({"SPY": 500.0})
    broker.submit(order("SPY", Side.BUY, 10))
    venue.close_session()
    venue.open_session({"SPY": 520.0})
    broker.submit(order("SPY", Side.SELL, 4, "reduce"))

    fills = broker.fills()

    assert [(f.symbol, f.side, f.qty, f.price) for f in fills] == [
        ("SPY", Side.BUY, 10, 500.0),
        ("SPY", Side.SELL, 4, 520.0),
    ]
    assert all(isinstance(f, Fill) and f.account_id == ACCOUNT for f in fills)
    assert all(f.filled_at.tzinfo is not None for f in fills)
    assert fills[0].filled_at < fills[1].filled_at
    assert broker.fills(since=fills[1].filled_at) == [fills[1]]
    assert broker.fills(since=fills[0].filled_at) == fills
    assert broker.fills() == broker.fills(since=None)


def test_cancel_takes_an_open_order_off_the_book_and_it_never_fills(venue: Venue) -> None:
    broker = venue.broker
    queued = broker.submit(order("SPY", Side.BUY, 10))

    canceled = broker.cancel(queued.client_order_id)

    assert canceled is not None and canceled.result.status is OrderStatus.CANCELED and canceled.asked
    assert broker.open_orders() == []
    again = broker.cancel(queued.client_order_id)  # idempotent
    assert again is not None and again.result.status is OrderStatus.CANCELED and not again.asked  # asked once
    found = broker.find(queued.client_order_id)
    assert found is not None and found.status is OrderStatus.CANCELED
    venue.open_session({"SPY": 500.0})
    assert broker.fills() == []
    assert broker.account({}).positions == {}


def test_cancel_of_an_unknown_order_is_none(venue: Venue) -> None:
    assert venue.broker.cancel("lt-never-sent") is None


def test_cancel_of_a_filled_order_returns_its_filled_state(venue: Venue) -> None:
    broker = venue.broker
    venue.open_session({"SPY": 500.0})
    filled = broker.submit(order("SPY", Side.BUY, 10))

    answer = broker.cancel(filled.client_order_id)

    assert answer is not None and not answer.asked
    assert (answer.result.status, answer.result.filled_qty, answer.result.fill_price) == (OrderStatus.FILLED, 10, 500.0)
    assert broker.account({}).positions["SPY"].qty == 10


def test_long_and_short_positions_after_fills(venue: Venue) -> None:
    broker = venue.broker
    venue.open_session({"SPY": 500.0, "QQQ": 400.0})
    broker.submit(order("SPY", Side.BUY, 10))
    broker.submit(order("QQQ", Side.SELL, 5))

    snapshot = broker.account({"SPY": 500.0, "QQQ": 400.0})

    assert snapshot.positions == {
        "SPY": Position(symbol="SPY", qty=10, avg_price=500.0),
        "QQQ": Position(symbol="QQQ", qty=-5, avg_price=400.0),
    }
    assert snapshot.cash == pytest.approx(100_000 - 5000 + 2000)


def test_is_shortable(venue: Venue) -> None:
    broker = venue.broker
    assert broker.is_shortable("SPY") is True
    assert broker.is_shortable(NOT_SHORTABLE) is False
    assert broker.is_shortable("NOSUCH") is False


def test_recording_fills_writes_each_once_and_nothing_on_a_second_call(venue: Venue, storage: Storage) -> None:
    broker = venue.broker
    venue.close_session()  # queued for the open, so the fill is the broker's news, not the submitter's
    broker.submit(order("SPY", Side.BUY, 10))
    venue.open_session({"SPY": 500.0})
    venue.close_session()
    queued = broker.submit(order("SPY", Side.SELL, 10, "close"))

    first = record_new_fills(storage.events, broker, week_id=WEEK, run_id="r1")
    venue.open_session({"SPY": 490.0})
    second = record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")
    third = record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")

    assert [f.side for f in first] == [Side.BUY]
    assert [(f.client_order_id, f.price) for f in second] == [(queued.client_order_id, 490.0)]
    assert third == []
    recorded = [OrderFilled.from_event(e) for e in storage.events.read(type=OrderFilled.event_type())]
    assert [(r.fill, r.broker) for r in recorded] == [(f, broker.name) for f in broker.fills()]


def test_two_recorders_racing_write_each_fill_once(venue: Venue, storage: Storage) -> None:
    broker = venue.broker
    venue.close_session()
    broker.submit(order("SPY", Side.BUY, 10))
    venue.open_session({"SPY": 500.0})

    class Racing:
        """The broker, but another process records the fills between our read of the log and our write."""

        name, account_id, records_own_ends = broker.name, broker.account_id, broker.records_own_ends

        def record_canceled(self, *, run_id: str | None) -> list[str]:
            return broker.record_canceled(run_id=run_id)

        def fills(self, since: datetime | None = None) -> list[Fill]:
            return broker.fills(since)

        def open_orders(self) -> list[BrokerOrder]:
            record_new_fills(storage.events, broker, week_id=WEEK, run_id="other")
            return broker.open_orders()

    assert record_new_fills(storage.events, Racing(), week_id=WEEK, run_id="mine") == []  # type: ignore[arg-type]
    recorded = storage.events.read(type=OrderFilled.event_type())
    assert [e.run_id for e in recorded] == ["other"]


def test_an_account_halts_after_ten_losing_closed_trades_read_through_the_protocol(
    venue: Venue, storage: Storage
) -> None:
    broker = venue.broker
    for trade in range(10):
        venue.open_session({"SPY": 100.0})
        broker.submit(order("SPY", Side.BUY, 10, f"open{trade}"))
        venue.close_session()
        venue.open_session({"SPY": 90.0})
        broker.submit(order("SPY", Side.SELL, 10, f"close{trade}"))
        venue.close_session()
    snapshot = broker.account({})
    assert snapshot.positions == {}
    assert snapshot.equity == pytest.approx(100_000 - 10 * 100)  # a 1% drawdown: only the loss rule can halt

    state = evaluate_breaker(
        storage.events,
        broker.account_id,
        starting_equity=100_000.0,
        equity=snapshot.equity,
        fills=broker.fills(),
        config=CircuitBreaker(),
        week_id=WEEK,
        run_id="breaker-test",
    )

    assert state.halted and state.halted_for == "losses"
    stop, reason = halted(storage.events, broker.account_id)
    assert stop is True
    assert "10 consecutive losing trades" in reason
