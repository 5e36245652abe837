"""The paper broker against a real event store, and the week roll's order planning."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from llmtrade.brokers.fills import record_new_fills
from llmtrade.brokers.order_plan import client_order_id, plan_orders
from llmtrade.brokers.paper import PaperBroker
from llmtrade.brokers.paper_opens import SessionOpens
from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent
from llmtrade.domain.ledger import apply_fill
from llmtrade.domain.streams import fill_stream, ledger_stream
from llmtrade.domain.trading import Fill, Order, OrderFilled, OrderStatus, Position, Side
from llmtrade.market.calendar import TradingCalendar
from llmtrade.storage.bootstrap import Storage

WEEK = date(2026, 1, 7)
BEFORE_OPEN = datetime(2026, 1, 7, 13, 0, tzinfo=UTC)  # 08:00 New York
DURING = datetime(2026, 1, 7, 17, 0, tzinfo=UTC)  # 12:00 New York


class Opens:
    def __init__(self, prices: dict[tuple[str, date], float]):
        self.prices = prices

    def opening_price(self, symbol: str, day: date) -> float | None:
        return self.prices.get((symbol, day))


class Clock(FixedClock):
    def set(self, instant: datetime) -> None:
        self._instant = instant


def _broker(storage: Storage, clock: FixedClock, opens: Opens, **kw: float) -> PaperBroker:
    return PaperBroker(
        "acct_1",
        starting_cash=100_000.0,
        events=storage.events,
        clock=clock,
        calendar=TradingCalendar(),
        prices=opens,
        **kw,
    )


def _order(symbol: str, side: Side, qty: int, intent: str = "open") -> Order:
    return Order(
        client_order_id=client_order_id(WEEK, "acct_1", symbol, intent),
        account_id="acct_1",
        week_id=WEEK,
        symbol=symbol,
        side=side,
        qty=qty,
        intent=intent,
    )


def test_an_order_while_closed_queues_for_the_next_open_and_fills_at_its_price_with_slippage(storage: Storage) -> None:
    clock = Clock(BEFORE_OPEN)
    broker = _broker(storage, clock, Opens({("TLT", WEEK): 90.0}), slippage_bps=10)
    result = broker.submit(_order("TLT", Side.BUY, 100))
    assert result.status is OrderStatus.ACCEPTED and "2026-01-07T09:30:00-05:00" in result.message
    assert broker.account({"TLT": 91.0}).positions == {}
    clock.set(DURING)
    account = broker.account({"TLT": 91.0})
    assert account.positions == {"TLT": Position(symbol="TLT", qty=100, avg_price=90.09)}
    assert account.cash == pytest.approx(100_000 - 100 * 90.09)
    assert account.equity == pytest.approx(account.cash + 100 * 91.0)
    assert broker.find(result.client_order_id).status is OrderStatus.FILLED


def test_an_order_while_open_fills_at_once_at_the_latest_price(storage: Storage) -> None:
    broker = _broker(
        storage, FixedClock(DURING), Opens({("SPY", WEEK): 500.0}), slippage_bps=0, commission_per_order=1.0
    )
    result = broker.submit(_order("SPY", Side.SELL, 10))
    assert (result.status, result.fill_price, result.filled_qty) == (OrderStatus.FILLED, 500.0, 10)
    account = broker.account({"SPY": 490.0})
    assert account.positions["SPY"].qty == -10
    assert account.cash == pytest.approx(100_000 + 5000 - 1)
    assert account.equity == pytest.approx(100_000 + 5000 - 1 - 4900)  # short gained 100, paid 1 commission


def test_submitting_the_same_client_order_id_twice_places_one_order(storage: Storage) -> None:
    broker = _broker(storage, FixedClock(DURING), Opens({("SPY", WEEK): 500.0}))
    first = broker.submit(_order("SPY", Side.BUY, 10))
    second = broker.submit(_order("SPY", Side.BUY, 10))
    assert first == second
    ledger = storage.events.read_stream(ledger_stream("acct_1"))
    assert [e.type for e in ledger] == ["PaperOrderAccepted"]  # the fill is derived, not written by a read
    assert broker.account({"SPY": 500.0}).positions["SPY"].qty == 10


def test_balances_are_rebuilt_from_the_ledger_events(storage: Storage) -> None:
    opens = Opens({("SPY", WEEK): 500.0, ("TLT", WEEK): 90.0})
    broker = _broker(storage, FixedClock(DURING), opens, slippage_bps=0)
    broker.submit(_order("SPY", Side.BUY, 10))
    broker.submit(_order("SPY", Side.SELL, 4, "reduce"))
    broker.submit(_order("TLT", Side.SELL, 20))
    rebuilt = _broker(storage, FixedClock(DURING), opens, slippage_bps=0)  # a new process, same events
    assert rebuilt.account({}) == broker.account({})
    assert rebuilt.account({}).positions == {
        "SPY": Position(symbol="SPY", qty=6, avg_price=500.0),
        "TLT": Position(symbol="TLT", qty=-20, avg_price=90.0),
    }


def test_realised_and_unrealised_pnl_for_longs_and_shorts(storage: Storage) -> None:
    clock = Clock(DURING)
    opens = Opens({("SPY", WEEK): 500.0, ("TLT", WEEK): 90.0, ("SPY", date(2026, 1, 8)): 520.0})
    broker = _broker(storage, clock, opens, slippage_bps=0, commission_per_order=1.0)
    broker.submit(_order("SPY", Side.BUY, 10))
    broker.submit(_order("TLT", Side.SELL, 20))
    clock.set(datetime(2026, 1, 8, 17, 0, tzinfo=UTC))
    broker.submit(_order("SPY", Side.SELL, 4, "reduce"))  # sells 4 at 520: +80 realised
    account = broker.account({"SPY": 530.0, "TLT": 85.0})
    assert account.realized_pnl == pytest.approx(4 * 20 - 3 * 1.0)  # three orders' commission
    assert account.unrealized_pnl == pytest.approx(6 * 30 + 20 * 5)  # SPY up 30 on 6; TLT short down 5 on 20
    assert account.equity == pytest.approx(100_000 + account.realized_pnl + account.unrealized_pnl)


def test_an_order_without_an_opening_price_stays_queued(storage: Storage) -> None:
    broker = _broker(storage, FixedClock(DURING), Opens({}))
    assert broker.submit(_order("GLD", Side.BUY, 5)).status is OrderStatus.ACCEPTED
    assert broker.account({}).positions == {}


@pytest.mark.parametrize(
    ("qty", "avg", "signed", "price", "expected"),
    [
        (0, 0.0, 10, 100.0, (10, 100.0)),
        (10, 100.0, 10, 110.0, (20, 105.0)),
        (10, 100.0, -4, 120.0, (6, 100.0)),
        (10, 100.0, -10, 120.0, (0, 0.0)),
        (10, 100.0, -15, 120.0, (-5, 120.0)),
        (-10, 50.0, -10, 40.0, (-20, 45.0)),
    ],
)
def test_apply_fill_keeps_average_cost(qty: int, avg: float, signed: int, price: float, expected: tuple) -> None:
    assert apply_fill(qty, avg, signed, price) == expected


def _pos(symbol: str, qty: int) -> Position:
    return Position(symbol=symbol, qty=qty, avg_price=100.0)


def test_the_week_roll_closes_what_is_not_kept_and_resizes_what_is() -> None:
    held = {"GLD": _pos("GLD", 50), "TLT": _pos("TLT", 100)}
    orders = plan_orders(WEEK, "acct_1", held, "TLT", 60)
    assert [(o.symbol, o.side, o.qty, o.intent) for o in orders] == [
        ("GLD", Side.SELL, 50, "close"),
        ("TLT", Side.SELL, 40, "resize"),
    ]
    assert plan_orders(WEEK, "acct_1", {"TLT": _pos("TLT", 100)}, "TLT", 100) == []


def test_changing_side_closes_then_opens_and_flat_closes_everything() -> None:
    flip = plan_orders(WEEK, "acct_1", {"SPY": _pos("SPY", 30)}, "SPY", -20)
    assert [(o.side, o.qty, o.intent) for o in flip] == [(Side.SELL, 30, "close"), (Side.SELL, 20, "open")]
    flat = plan_orders(WEEK, "acct_1", {"SPY": _pos("SPY", 30), "QQQ": _pos("QQQ", -5)}, "", 0)
    assert [(o.symbol, o.side, o.qty) for o in flat] == [("QQQ", Side.BUY, 5), ("SPY", Side.SELL, 30)]


def test_client_order_ids_are_deterministic_distinct_and_at_most_48_characters() -> None:
    assert client_order_id(WEEK, "acct_1", "SPY", "open") == "lt-20260107-acct_1-SPY-open"
    assert client_order_id(WEEK, "acct_1", "SPY", "open") == client_order_id(WEEK, "acct_1", "SPY", "open")
    assert client_order_id(WEEK, "acct_1", "SPY", "open") != client_order_id(WEEK, "acct_1", "SPY", "close")
    long_account = "a" * 32
    ids = {client_order_id(WEEK, long_account, s, "resize") for s in ("SPY", "QQQ")}
    assert len(ids) == 2 and all(len(i) <= 48 for i in ids)


# ------------------------------------------------------------------ fills derived, recorded once


def test_a_recorded_fill_is_the_fact_even_if_the_price_data_changes_later(storage: Storage) -> None:
    opens = Opens({("SPY", WEEK): 500.0})
    # Queued before the open, so nothing pins the fill until someone records it.
    _broker(storage, FixedClock(BEFORE_OPEN), opens, slippage_bps=0).submit(_order("SPY", Side.BUY, 10))
    broker = _broker(storage, FixedClock(DURING), opens, slippage_bps=0)
    opens.prices[("SPY", WEEK)] = 505.0  # the data is revised before anyone recorded the fill
    assert [f.price for f in broker.fills()] == [505.0]  # a derived fill follows the data ...

    record_new_fills(storage.events, broker, week_id=WEEK, run_id="r1")
    opens.prices[("SPY", WEEK)] = 999.0

    assert [f.price for f in broker.fills()] == [505.0]  # ... a recorded one does not
    assert broker.account({}).positions["SPY"].avg_price == 505.0
    assert storage.events.read_stream(fill_stream("acct_1", _order("SPY", Side.BUY, 10).client_order_id))


def test_fills_written_to_the_ledger_by_an_older_version_are_kept_and_not_recorded_twice(storage: Storage) -> None:
    opens = Opens({("SPY", WEEK): 500.0})
    placed = _broker(storage, FixedClock(BEFORE_OPEN), opens, slippage_bps=0).submit(_order("SPY", Side.BUY, 10))
    broker = _broker(storage, FixedClock(DURING), opens, slippage_bps=0)
    old = Fill(
        client_order_id=placed.client_order_id,
        account_id="acct_1",
        symbol="SPY",
        side=Side.BUY,
        qty=10,
        price=498.0,
        filled_at=DURING,
    )
    storage.events.append(
        [NewEvent.of(OrderFilled(fill=old, broker="paper"), stream=ledger_stream("acct_1"), account_id="acct_1")]
    )

    assert broker.fills() == [old]
    assert record_new_fills(storage.events, broker, week_id=WEEK, run_id="r1") == []


def test_an_order_that_fills_at_once_is_pinned_by_submit_at_the_price_it_reports(storage: Storage) -> None:
    opens = Opens({("SPY", WEEK): 500.0})
    broker = _broker(storage, FixedClock(DURING), opens, slippage_bps=0)

    placed = broker.submit(_order("SPY", Side.BUY, 10))
    opens.prices[("SPY", WEEK)] = 505.0  # a later answer of the data feed

    assert placed.fill_price == 500.0
    assert [f.price for f in broker.fills()] == [500.0]
    assert record_new_fills(storage.events, broker, week_id=WEEK, run_id="r1") == []  # already recorded
    (pinned,) = storage.events.read(type=OrderFilled.event_type())
    assert pinned.week_id == WEEK and OrderFilled.from_event(pinned).fill.price == 500.0


def test_a_cancel_after_the_fill_time_comes_too_late_even_before_the_price_is_known(storage: Storage) -> None:
    clock = Clock(BEFORE_OPEN)
    broker = _broker(storage, clock, Opens({}))
    queued = broker.submit(_order("GLD", Side.BUY, 5))
    clock.set(DURING)  # past the open; the opening price is not in the data yet
    count = storage.events.count()

    answer = broker.cancel(queued.client_order_id)

    assert answer is not None and answer.result.status is OrderStatus.ACCEPTED and not answer.asked
    assert storage.events.count() == count
    assert [o.client_order_id for o in broker.open_orders()] == [queued.client_order_id]


def test_a_cancel_is_a_ledger_event_and_a_second_one_adds_nothing(storage: Storage) -> None:
    broker = _broker(storage, FixedClock(BEFORE_OPEN), Opens({("SPY", WEEK): 500.0}))
    queued = broker.submit(_order("SPY", Side.BUY, 10))

    broker.cancel(queued.client_order_id)
    broker.cancel(queued.client_order_id)

    ledger = storage.events.read_stream(ledger_stream("acct_1"))
    assert [e.type for e in ledger] == ["PaperOrderAccepted", "PaperOrderCanceled"]


def test_a_pending_fill_is_the_same_object_at_every_look_until_its_price_changes(storage: Storage) -> None:
    # Every look derives the pending orders' fills again; the same Fill object each time lets the fill view and
    # the breaker match the lists by identity. A revised opening price (before the fill is recorded) is a new fill.
    clock = Clock(BEFORE_OPEN)
    opens = Opens({("TLT", WEEK): 90.0})
    broker = _broker(storage, clock, opens, slippage_bps=0)
    broker.submit(_order("TLT", Side.BUY, 100))
    clock.set(DURING)
    first = broker.fills()
    assert [f.price for f in first] == [90.0]
    assert broker.fills()[0] is first[0]
    assert broker.account({"TLT": 91.0}).positions["TLT"].avg_price == 90.0
    opens.prices[("TLT", WEEK)] = 90.5
    broker._opens = SessionOpens(opens)  # asked once per session and process: a new broker would see the revision
    revised = broker.fills()
    assert [f.price for f in revised] == [90.5] and revised[0] is not first[0]
    assert broker.account({"TLT": 91.0}).positions["TLT"].avg_price == 90.5
