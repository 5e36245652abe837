"""Splits on an Alpaca account (through the real alpaca-py client against the loopback fake): Alpaca splits a position
itself, before the ex-day's open; llmtrade's fills and the user's adoptions stay as they were made. Before, a
checkpoint before that open (the quote still the old close: the market records no split yet) saw a quantity mismatch
and managed a quarter of a 4-for-1 split position (an EXIT sold 10 of 40); shares adopted by hand before a split were
not scaled either."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime
from fractions import Fraction

import pytest

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.fills import record_new_fills
from llmtrade.brokers.order_plan import client_order_id, plan_orders
from llmtrade.brokers.reconcile import Reconciliation, look
from llmtrade.brokers.reconcile_records import record_splits
from llmtrade.brokers.split_positions import in_new_shares
from llmtrade.domain.events import NewEvent
from llmtrade.domain.ledger import Split
from llmtrade.domain.market import SplitDetected
from llmtrade.domain.reconciliation import PositionAdopted
from llmtrade.domain.streams import SPLITS, managed_stream
from llmtrade.domain.trading import OrdersPlanned, Side
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.pipeline.context import PipelineContext
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.broker_splits import SeenSplits, before_a_split
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution_stage import ExecutionStage
from llmtrade.workflows.trading_stages import LAST_CLOSES, PLANS, PRICES, RiskStage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_broker import KEY_ID, SECRET, broker_for, order
from tests.test_reconciliation import CONFIG, _context

ACCOUNT = "pm-alpha"
WEEK = date(2025, 12, 31)
BOUGHT = datetime(2026, 1, 2, 15, tzinfo=UTC)  # Friday 10:00 New York
PRE_OPEN = datetime(2026, 1, 5, 13, tzinfo=UTC)  # Monday 08:00 New York, the ex-day: Alpaca has split the position


@pytest.fixture
def alpaca() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        yield fake


def _split(storage: Storage, symbol: str, ex_day: date, ratio: float, looks_like: str) -> None:
    split = SplitDetected(
        symbol=symbol, ex_day=ex_day, ratio=ratio, looks_like=looks_like, price=50.0, provider="alpaca", evidence="t"
    )
    storage.events.append([NewEvent.of(split, stream=SPLITS, run_id="r2")])


def _adopt(storage: Storage, symbol: str, qty: int, avg: float) -> None:
    adopted = PositionAdopted(account_id=ACCOUNT, symbol=symbol, qty=qty, avg_price=avg, price=avg * 1.1)
    storage.events.append([NewEvent.of(adopted, stream=managed_stream(ACCOUNT), account_id=ACCOUNT)])


@pytest.mark.parametrize(("ratio", "looks_like", "held"), [(4.0, "4-for-1", 40), (0.25, "1-for-4", 2)])
def test_shares_adopted_before_a_split_are_managed_split_and_those_adopted_after_it_as_they_are(
    alpaca: FakeAlpacaServer, storage: Storage, ratio: float, looks_like: str, held: int
) -> None:
    """10 GLD adopted by hand (recorded Wednesday 2026-01-07), split from Thursday: Alpaca holds them split. SPY's split
    (Wednesday's ex-day, before its adoption) was in the adopted shares already: not scaled again."""
    broker = broker_for(alpaca)
    alpaca.set_position("GLD", 10, 200.0)
    alpaca.set_position("SPY", 12, 50.0)
    _adopt(storage, "GLD", 10, 200.0)
    _adopt(storage, "SPY", 12, 50.0)
    _split(storage, "SPY", date(2026, 1, 7), 4.0, "4-for-1")
    _split(storage, "GLD", date(2026, 1, 8), ratio, looks_like)
    alpaca.set_position("GLD", held, 200.0 / ratio)  # Alpaca's split (a fraction of a share, if any, paid in cash)
    prices = {"GLD": 200.0 / ratio, "SPY": 50.0}
    seen = look(storage.events, broker, broker.account(prices), prices)
    assert seen.differences == []
    assert {s: p.qty for s, p in seen.managed.positions.items()} == {"GLD": held, "SPY": 12}
    assert seen.ledger.adopted == {"GLD": held, "SPY": 12}
    # What the adopted shares made before their adoption is the same money, split or not.
    assert seen.ledger.adopted_pnl["GLD"] == pytest.approx(10 * 20.0 if ratio > 1 else held * 80.0)


def _bought(alpaca: FakeAlpacaServer, storage: Storage, price: float) -> AlpacaBroker:
    """10 SPY bought by llmtrade on Friday at `price`, its fill recorded."""
    broker = broker_for(alpaca)
    alpaca.set_time(BOUGHT)
    alpaca.set_price("SPY", price)
    broker.submit(order(client_order_id(WEEK, ACCOUNT, "SPY", "open"), week_id=WEEK))
    alpaca.fill_open_orders()
    record_new_fills(storage.events, broker, week_id=WEEK, run_id="r1")
    return broker


def _looked(storage: Storage, broker: AlpacaBroker, price: float) -> Reconciliation:
    prices = {"SPY": price}
    return look(storage.events, broker, broker.account(prices), prices)


@pytest.mark.parametrize(
    ("price", "ratio", "looks_like", "held", "avg"),
    [(600.0, 4.0, "4-for-1", 40, 150.0), (50.0, 0.25, "1-for-4", 2, 200.0)],
)
def test_a_split_alpaca_applied_before_the_open_is_read_from_its_position_recorded_once_and_managed_whole(
    alpaca: FakeAlpacaServer, storage: Storage, price: float, ratio: float, looks_like: str, held: int, avg: float
) -> None:
    """Monday before the open: Alpaca holds 40 at 150 (2 at 200: the half share paid in cash) where the books hold 10
    at 600 (at 50), the quote still Friday's close. The same cost, one split's factor on both: a split, managed whole,
    recorded at the checkpoint's write (SplitDetected, from the broker's position) with Monday as its ex-day; the next
    look reads it from the record."""
    broker = _bought(alpaca, storage, price)
    alpaca.set_position("SPY", held, avg)
    seen = _looked(storage, broker, price)
    assert seen.differences == [] and seen.managed.positions["SPY"].qty == held
    assert [(s.symbol, float(s.ratio)) for s in seen.splits] == [("SPY", ratio)]
    assert _looked(storage, broker, price).splits == seen.splits  # a look is a read: nothing recorded
    assert storage.events.read(stream=SPLITS) == []

    record_splits(storage.events, seen, broker.name, PRE_OPEN, {"SPY": price}, week_id=WEEK, run_id="c1")
    [split] = [SplitDetected.from_event(e) for e in storage.events.read(stream=SPLITS)]
    assert (split.ex_day, split.ratio, split.looks_like, split.provider) == (
        date(2026, 1, 5),
        ratio,
        looks_like,
        "alpaca positions",
    )
    assert split.price == avg  # Friday's close, split: what a fraction of a share is paid at
    assert f"where llmtrade's records hold 10 at {price:.2f}" in split.evidence

    again = _looked(storage, broker, price)
    assert again.splits == () and again.differences == [] and again.managed.positions["SPY"].qty == held
    record_splits(storage.events, again, broker.name, PRE_OPEN, {"SPY": price}, week_id=WEEK, run_id="c2")
    assert len(storage.events.read(stream=SPLITS)) == 1


def test_an_exit_after_a_split_seen_at_the_broker_sells_the_whole_position_and_leaves_the_books_flat(
    alpaca: FakeAlpacaServer, storage: Storage
) -> None:
    """The checkpoint's EXIT is planned from the managed view (checkpoint_trade `_decide`): 40 shares sold, not 10
    with 30 left behind; after the fill the books, through the split, hold none, as the broker does."""
    broker = _bought(alpaca, storage, 600.0)
    alpaca.set_position("SPY", 40, 150.0)
    seen = _looked(storage, broker, 600.0)
    record_splits(storage.events, seen, broker.name, PRE_OPEN, {"SPY": 600.0}, week_id=WEEK, run_id="c1")
    managed = _looked(storage, broker, 600.0).managed.positions
    orders = plan_orders(WEEK, ACCOUNT, managed, "SPY", 0, tag="mon-1000")
    assert [(o.side.value, o.qty) for o in orders] == [("sell", 40)]
    alpaca.set_time(datetime(2026, 1, 5, 15, tzinfo=UTC))
    alpaca.set_price("SPY", 151.0)
    for o in orders:
        broker.submit(o)
    alpaca.fill_open_orders()
    record_new_fills(storage.events, broker, week_id=WEEK, run_id="c1")
    after = _looked(storage, broker, 151.0)
    assert after.account.positions == {} and after.differences == [] and after.ledger.qty("SPY") == 0


@pytest.mark.parametrize(
    ("held", "avg", "what"),
    [
        (37, 600 * 10 / 37, "the same cost in 37 shares: no split's ratio"),
        (40, 600.0, "30 more bought by hand at the price: the cost grew"),
        (40, 300.0, "4x the shares at half the price: the cost doubled"),
        (5, 600.0, "5 sold by hand"),
    ],
)
def test_a_position_that_is_not_one_split_of_the_books_is_still_a_mismatch_and_nothing_is_recorded(
    alpaca: FakeAlpacaServer, storage: Storage, held: int, avg: float, what: str
) -> None:
    broker = _bought(alpaca, storage, 600.0)
    alpaca.set_position("SPY", held, avg)
    seen = _looked(storage, broker, 600.0)
    assert seen.splits == (), what
    assert [(d.kind, d.broker_qty, d.ledger_qty) for d in seen.differences] == [("quantity_mismatch", held, 10)]
    assert (
        seen.differences[0].detail == f"the broker holds {held} SPY, llmtrade's records 10; it manages {min(held, 10)}"
    )
    assert seen.managed.positions["SPY"].qty == min(held, 10)
    record_splits(storage.events, seen, broker.name, PRE_OPEN, {"SPY": 600.0}, week_id=WEEK, run_id="c1")
    assert storage.events.read(stream=SPLITS) == []


def _run_week(
    desk: Desk, storage: Storage, week: date, asof: datetime, session: date, *, dry_run: bool = False
) -> list[OrdersPlanned]:
    context = _context({"SPY": 600.0}, week, f"run-{week}", asof=asof, session=session, suspect={})
    return asyncio.run(RiskStage([desk], CONFIG, storage.events, week, dry_run=dry_run).run(context)).get(PLANS)


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_weekly_run_before_the_open_sizes_a_position_alpaca_split_at_the_split_price_not_the_old_close(
    storage: Storage, dry_run: bool
) -> None:
    """The weekly run's snapshot closes are Friday's (600 a share); Alpaca has split the position 4-for-1 before
    Monday's open. The run reads the split from the position and records it; sized at 600, the 40 shares held would
    have been sold down to the 10 that 600 buys (the snapshot's close of a split recorded since is in the old shares:
    brokers/split_positions.in_new_shares). The same pitch, the same money: at most a share's rounding bought. A dry run
    shows that plan too, and records nothing (before, it records no split, so it sized at 600 and showed the sale)."""
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as alpaca:
        alpaca.set_time(BOUGHT)
        alpaca.set_price("SPY", 600.0)
        broker = AlpacaBroker("acct_1", KEY_ID, SECRET, url_override=alpaca.base_url)
        desk = Desk(CONFIG.accounts.account("acct_1"), broker)
        first = date(2025, 12, 29)
        plans = _run_week(desk, storage, first, BOUGHT, date(2026, 1, 1))
        executed = PipelineContext(run_id="run-1", week_id=first).with_values(
            (PLANS, plans), (PRICES, {"SPY": 600.0}), (LAST_CLOSES, {})
        )
        asyncio.run(ExecutionStage([desk], storage.events, first, CONFIG, dry_run=False).run(executed))
        shares = broker.account({}).positions["SPY"].qty
        assert shares > 0
        alpaca.set_position("SPY", shares * 4, 150.0)  # Alpaca's 4-for-1, before Monday's open
        alpaca.set_price("SPY", 150.0)
        week = date(2026, 1, 5)
        [plan] = _run_week(desk, storage, week, PRE_OPEN, date(2026, 1, 2), dry_run=dry_run)
    recorded = [SplitDetected.from_event(e) for e in storage.events.read(stream=SPLITS)]
    assert [(s.ex_day, s.looks_like) for s in recorded] == ([] if dry_run else [(week, "4-for-1")])
    assert plan.positions_before["SPY"].qty == shares * 4
    assert all(o.side is Side.BUY and o.qty < 4 for o in plan.orders), plan.orders


@pytest.mark.parametrize(
    ("price", "ratio", "expected", "what"),
    [
        (600.0, 4, 150.0, "Friday's close, before the 4-for-1: in the new shares, a quarter"),
        (151.0, 4, 151.0, "a price read after the split (or restated): as it is"),
        (50.0, Fraction(1, 4), 200.0, "Friday's close before a 1-for-4: four times"),
        (190.0, Fraction(1, 4), 190.0, "after the 1-for-4, down 5% since: as it is"),
    ],
)
def test_a_price_read_before_a_split_recorded_since_is_put_in_the_new_shares_and_a_checkpoint_defers_judging_it(
    price: float, ratio: Fraction | int, expected: float, what: str
) -> None:
    """A pre-open checkpoint's price is Friday's close while the split Alpaca applied is recorded (at 150: 600 split):
    its stop, moved by the split, would fire on the old price (a 1-for-4's 'close < 45' is 'close < 180' against
    50), its P/L read +300% (4-for-1). Such a price is not judged (workflows/broker_splits.py `before_a_split`); the
    weekly run sizes at it put in the new shares."""
    split = Split("SPY", datetime(2026, 1, 5, tzinfo=NEW_YORK), Fraction(ratio), 150.0 if ratio == 4 else 200.0)
    friday, monday = date(2026, 1, 2), PRE_OPEN
    assert in_new_shares({"SPY": price, "GLD": 300.0}, [split], friday, monday) == {"SPY": expected, "GLD": 300.0}, what
    assert before_a_split(TradingCalendar(), monday, "SPY", price, [split]) is (expected != price)
    # A split whose ex-day the prices are from already, or one still to come, moves nothing.
    assert in_new_shares({"SPY": price}, [split], date(2026, 1, 5), monday) == {"SPY": price}
    assert in_new_shares({"SPY": price}, [split], friday, datetime(2026, 1, 4, 20, tzinfo=UTC)) == {"SPY": price}


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_checkpoint_before_the_open_defers_judging_a_split_it_saw_at_the_broker_dry_run_or_not(
    alpaca: FakeAlpacaServer, storage: Storage, dry_run: bool
) -> None:
    """A checkpoint's split seen at the broker (SeenSplits, as checkpoint_ask's prepare uses it): the real run records
    it, the dry run keeps it; both then read Friday's 600 as before the split and defer judging the 40 shares. Before,
    the dry run recorded nothing and so read nothing: it judged 40 shares at 150 against 600, a P/L of +300%."""
    broker = _bought(alpaca, storage, 600.0)
    alpaca.split("SPY", 4)
    splits = SeenSplits(storage.events, WEEK, dry_run=dry_run)
    splits.record(_looked(storage, broker, 600.0), broker.name, PRE_OPEN, {"SPY": 600.0}, "c1")
    assert len(storage.events.read(stream=SPLITS)) == (0 if dry_run else 1)
    assert splits.looked(ACCOUNT) and not splits.looked("acct_other")
    [split] = splits.splits(ACCOUNT)
    assert (split.symbol, split.ratio, split.at.date(), split.price) == ("SPY", 4, date(2026, 1, 5), 150.0)
    assert before_a_split(TradingCalendar(), PRE_OPEN, "SPY", 600.0, splits.splits(ACCOUNT))
    assert splits.in_new_shares(ACCOUNT, {"SPY": 600.0}, date(2026, 1, 2), PRE_OPEN) == {"SPY": 150.0}


def test_an_order_queued_for_the_ex_days_open_alpaca_splits_with_the_position_fills_in_the_new_shares_and_agrees(
    alpaca: FakeAlpacaServer, storage: Storage
) -> None:
    """Alpaca adjusts an open order's quantity by the split (alpaca-py#469: 5 shares became 50 at a 10-for-1): 10 SPY
    bought on Friday, 10 more queued Friday evening for Monday's open; split 4-for-1 before it, the order buys 40 at
    150, the money the gate approved. The books fold the split at the ex-day's midnight, before that fill: 80 held,
    as at Alpaca, no difference, the split seen before the open recorded once and not again after the fill."""
    broker = _bought(alpaca, storage, 600.0)
    more = order(client_order_id(WEEK, ACCOUNT, "SPY", "add"), week_id=WEEK)
    broker.submit(more)  # queued: the market is closed
    alpaca.split("SPY", 4)
    seen = _looked(storage, broker, 600.0)
    assert seen.differences == [] and [o.qty for o in broker.open_orders()] == [40]
    record_splits(storage.events, seen, broker.name, PRE_OPEN, {"SPY": 600.0}, week_id=WEEK, run_id="c1")
    alpaca.set_time(datetime(2026, 1, 5, 14, 30, tzinfo=UTC))  # Monday's open
    alpaca.fill_open_orders()
    record_new_fills(storage.events, broker, week_id=WEEK, run_id="c1")
    after = _looked(storage, broker, 150.0)
    assert [(f.qty, f.price) for f in broker.fills() if f.client_order_id == more.client_order_id] == [(40, 150.0)]
    assert after.account.positions["SPY"].qty == 80 and after.differences == [] and after.splits == ()
    assert after.managed.positions["SPY"].qty == 80
    assert len(storage.events.read(stream=SPLITS)) == 1
