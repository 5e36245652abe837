"""The paper broker's book is a running fold (EventStore.fold): every read must still see exactly what
a fold of the whole ledger would, whatever arrived between two reads and in whatever order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import psycopg
import pytest

from llmtrade.brokers.order_plan import client_order_id
from llmtrade.brokers.paper import PaperBroker
from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import fill_stream, ledger_stream
from llmtrade.domain.trading import Fill, Order, OrderFilled, PaperOrderCanceled, Position, Side
from llmtrade.errors import ConcurrencyError
from llmtrade.market.calendar import TradingCalendar
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_copies import copies_of
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW

WEEK = date(2026, 1, 7)
BEFORE_OPEN = datetime(2026, 1, 7, 13, 0, tzinfo=UTC)  # 08:00 New York
DAYS = [datetime(2026, 1, d, 14, 30, tzinfo=UTC) for d in (7, 8, 9)]  # each day's open
LATER = datetime(2026, 1, 12, 17, 0, tzinfo=UTC)


class Opens:
    """The same opening price every day."""

    def __init__(self, prices: dict[str, float] | None = None):
        self.prices = prices or {}

    def opening_price(self, symbol: str, day: date) -> float | None:
        return self.prices.get(symbol)


def _broker(events: EventStore, now: datetime, opens: Opens | None = None) -> PaperBroker:
    return PaperBroker(
        "acct_1",
        starting_cash=100_000.0,
        events=events,
        clock=FixedClock(now),
        calendar=TradingCalendar(),
        prices=opens or Opens(),
        slippage_bps=0,
    )


def _order(symbol: str, side: Side, qty: int, intent: str) -> Order:
    return Order(
        client_order_id=client_order_id(WEEK, "acct_1", symbol, intent),
        account_id="acct_1",
        week_id=WEEK,
        symbol=symbol,
        side=side,
        qty=qty,
        intent=intent,
    )


def _record(events: EventStore, order: Order, price: float, at: datetime) -> None:
    """A fill recorded on its own stream (as brokers/fills.py records it)."""
    fill = Fill(
        client_order_id=order.client_order_id,
        account_id="acct_1",
        symbol=order.symbol,
        side=order.side,
        qty=order.qty,
        price=price,
        filled_at=at,
    )
    stream = fill_stream("acct_1", order.client_order_id)
    events.append([NewEvent.of(OrderFilled(fill=fill, broker="paper"), stream=stream, account_id="acct_1")])


def _fresh(storage: Storage, now: datetime) -> PaperBroker:
    """A broker as a new process would see the ledger: nothing this process has read or folded."""
    copies = copies_of(storage.conn)
    with copies.lock:
        copies.counted.clear()
        copies.folds.clear()
    return _broker(storage.events, now)


def test_a_fill_recorded_out_of_fill_order_refolds_the_account_in_fill_order(storage: Storage) -> None:
    buy, sell, again = (
        _order("SPY", Side.BUY, 10, "open"),
        _order("SPY", Side.SELL, 10, "close"),
        _order("SPY", Side.BUY, 10, "reopen"),
    )
    broker = _broker(storage.events, BEFORE_OPEN)
    for order in (buy, sell, again):
        broker.submit(order)  # queued; their fills are recorded below, out of order
    broker = _broker(storage.events, LATER)
    _record(storage.events, buy, 100.0, DAYS[0])
    _record(storage.events, again, 120.0, DAYS[2])
    assert broker.account({}).positions["SPY"] == Position(symbol="SPY", qty=20, avg_price=110.0)
    _record(storage.events, sell, 110.0, DAYS[1])  # recorded last, filled between the two buys

    account = broker.account({})

    # In fill order: bought 10 at 100, sold them at 110 (+100), bought 10 at 120.
    assert account.positions == {"SPY": Position(symbol="SPY", qty=10, avg_price=120.0)}
    assert account.realized_pnl == 100.0
    assert [f.filled_at for f in broker.fills()] == DAYS
    assert _fresh(storage, LATER).account({}) == account


def test_a_fill_recorded_before_its_order_was_accepted_is_booked_once_the_order_is(storage: Storage) -> None:
    order = _order("TLT", Side.BUY, 5, "open")
    broker = _broker(storage.events, LATER, Opens({"TLT": 95.0}))
    _record(storage.events, order, 90.0, DAYS[0])  # an older version recorded it first
    assert broker.account({}).positions == {}  # no order of this ledger: not ours yet
    _broker(storage.events, BEFORE_OPEN).submit(order)

    assert broker.account({}).positions == {"TLT": Position(symbol="TLT", qty=5, avg_price=90.0)}
    assert [f.price for f in broker.fills()] == [90.0]  # the recorded fill, not one derived at 95
    assert broker.open_orders() == []


def test_a_cancel_that_arrives_after_a_fill_was_derived_undoes_it(storage: Storage, database_url: str) -> None:
    order = _order("GLD", Side.BUY, 5, "open")
    _broker(storage.events, BEFORE_OPEN).submit(order)
    late = _broker(storage.events, LATER, Opens({"GLD": 180.0}))
    assert [f.client_order_id for f in late.fills()] == [order.client_order_id]  # derived
    # Another process canceled it before the open, and its commit reaches us only now.
    with psycopg.connect(database_url, autocommit=True) as other:
        stream = ledger_stream("acct_1")
        canceled = PaperOrderCanceled(client_order_id=order.client_order_id, canceled_at=BEFORE_OPEN)
        EventStore(other, FixedClock(FIXED_NOW)).append(
            [NewEvent.of(canceled, stream=stream, account_id="acct_1")], expected_versions={stream: 1}
        )

    assert late.fills() == []
    assert late.account({}).positions == {}
    assert late.find(order.client_order_id).status.value == "canceled"  # type: ignore[union-attr]
    assert late.open_orders() == []


def test_an_order_another_process_accepts_between_two_reads_is_seen(storage: Storage, database_url: str) -> None:
    broker = _broker(storage.events, LATER, Opens({"SPY": 500.0, "TLT": 90.0}))
    broker.submit(_order("SPY", Side.BUY, 2, "open"))
    assert set(broker.account({}).positions) == {"SPY"}
    with psycopg.connect(database_url, autocommit=True) as other:
        _broker(EventStore(other, FixedClock(FIXED_NOW)), BEFORE_OPEN).submit(_order("TLT", Side.SELL, 3, "open"))

    assert broker.account({}).positions["TLT"] == Position(symbol="TLT", qty=-3, avg_price=90.0)
    assert len(broker.fills()) == 2


def test_a_dry_runs_orders_are_seen_by_the_draft_and_gone_with_it(storage: Storage) -> None:
    opens = Opens({"SPY": 500.0})
    real = _broker(storage.events, LATER, opens)
    assert real.account({}).positions == {}
    draft = _broker(storage.events.draft(), LATER, opens)
    draft.submit(_order("SPY", Side.BUY, 4, "open"))

    assert draft.account({}).positions["SPY"].qty == 4
    assert real.account({}).positions == {}
    assert _broker(storage.events.draft(), LATER, opens).account({}).positions == {}
    assert real.fills() == [] and real.open_orders() == []


def test_an_exclusive_store_that_loses_its_flush_books_only_what_was_written(
    storage: Storage, database_url: str, clock: FixedClock
) -> None:
    sole = replace(storage, events=EventStore(storage.conn, clock, exclusive=True)).events
    broker = _broker(sole, LATER, Opens({"SPY": 500.0, "TLT": 90.0}))
    assert broker.account({}).positions == {}
    broker.submit(_order("SPY", Side.BUY, 2, "open"))  # held, unwritten
    assert set(broker.account({}).positions) == {"SPY"}
    with psycopg.connect(database_url, autocommit=True) as other:
        _broker(EventStore(other, FixedClock(FIXED_NOW)), BEFORE_OPEN).submit(_order("TLT", Side.SELL, 3, "open"))
    with pytest.raises(ConcurrencyError):
        sole.flush()

    assert set(broker.account({}).positions) == {"TLT"}


@pytest.mark.parametrize(("recorded_at", "order"), [(DAYS[0], ["open", "add"]), (DAYS[2], ["add", "open"])])
def test_fills_list_booked_and_derived_fills_in_fill_order(
    storage: Storage, recorded_at: datetime, order: list[str]
) -> None:
    # The derived fill (the next open, DAYS[0]) after the booked one (same time, accepted later: the quick
    # path, appended) or before it (a fill recorded at a later time: merged in).
    first, second = _order("SPY", Side.BUY, 10, "open"), _order("SPY", Side.BUY, 5, "add")
    queued = _broker(storage.events, BEFORE_OPEN)
    queued.submit(first)
    queued.submit(second)
    _record(storage.events, first, 100.0, recorded_at)
    broker = _broker(storage.events, LATER, Opens({"SPY": 104.0}))

    fills = broker.fills()

    assert [f.client_order_id for f in fills] == [client_order_id(WEEK, "acct_1", "SPY", i) for i in order]
    assert [f.filled_at for f in fills] == sorted(f.filled_at for f in fills)
    copies = copies_of(storage.conn)
    with copies.lock:  # as a new process would fold the ledger: from nothing
        copies.counted.clear()
        copies.folds.clear()
    assert fills == _broker(storage.events, LATER, Opens({"SPY": 104.0})).fills()
