"""A split Alpaca applied before the ex-day's open, with an order filled at that open before any look saw the split
(real alpaca-py client on the loopback fake). Before, the books held the 10 old shares and the 10 new ones as 20
where Alpaca holds 50: read as a 5-for-2 split after both fills (the same cost, 2.5 times the shares), recorded as one
and applied to every paper account holding the symbol at 2.5 for a 4-for-1; with 7 bought (47 against 17, no
announced split's factor), a quantity mismatch and 30 shares unmanaged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.fills import record_new_fills
from llmtrade.brokers.order_plan import client_order_id
from llmtrade.brokers.reconcile import Reconciliation, look
from llmtrade.brokers.reconcile_records import record_splits
from llmtrade.domain.market import SplitDetected
from llmtrade.domain.streams import SPLITS
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_broker import KEY_ID, SECRET, broker_for, order

ACCOUNT = "pm-alpha"
FRIDAY, MONDAY = date(2026, 1, 2), date(2026, 1, 5)
OPEN = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)  # Monday's open


@pytest.fixture
def alpaca() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        yield fake


def _buy(
    alpaca: FakeAlpacaServer,
    storage: Storage,
    broker: AlpacaBroker,
    week: date,
    at: datetime,
    price: float,
    qty: int = 10,
) -> None:
    alpaca.set_time(at)
    alpaca.set_price("SPY", price)
    broker.submit(order(client_order_id(week, ACCOUNT, "SPY", "open"), week_id=week, qty=qty))
    alpaca.fill_open_orders()
    record_new_fills(storage.events, broker, week_id=week, run_id="r")


def _look(storage: Storage, broker: AlpacaBroker, price: float) -> Reconciliation:
    prices = {"SPY": price}
    return look(storage.events, broker, broker.account(prices), prices)


@pytest.mark.parametrize("bought", [10, 7])
def test_an_order_filled_at_the_ex_days_open_before_any_look_is_read_with_the_split_before_it(
    alpaca: FakeAlpacaServer, storage: Storage, bought: int
) -> None:
    """10 SPY bought Friday at 600; Alpaca splits them 4-for-1 before Monday's open; `bought` more fill at that open
    at 153 (new shares). Alpaca holds the books' old 10 times 4 plus the new ones. Recorded as a 4-for-1 of Monday,
    the next look reads it from the record: no difference, all of them managed."""
    broker = broker_for(alpaca)
    _buy(alpaca, storage, broker, date(2025, 12, 31), datetime(2026, 1, 2, 15, tzinfo=UTC), 600.0)
    alpaca.split("SPY", 4.0)
    _buy(alpaca, storage, broker, MONDAY, OPEN, 153.0, bought)
    held = 40 + bought
    assert broker.account({"SPY": 153.0}).positions["SPY"].qty == held

    seen = _look(storage, broker, 153.0)
    assert seen.differences == [] and seen.managed.positions["SPY"].qty == held
    assert [(s.looks_like(), s.books_qty) for s in seen.splits] == [("4-for-1", 10)]
    assert seen.splits[0].bought_after == bought

    record_splits(storage.events, seen, broker.name, OPEN.replace(hour=15), {"SPY": 153.0}, week_id=MONDAY, run_id="c")
    [split] = [SplitDetected.from_event(e) for e in storage.events.read(stream=SPLITS)]
    assert (split.ex_day, split.latest, split.ratio, split.looks_like) == (MONDAY, None, 4.0, "4-for-1")
    assert f"{bought} filled from 2026-01-05 on in the new shares" in split.evidence

    again = _look(storage, broker, 153.0)
    assert again.splits == () and again.differences == [] and again.ledger.qty("SPY") == held


def test_a_split_after_both_fills_is_still_read_as_one_split_of_all_the_shares(
    alpaca: FakeAlpacaServer, storage: Storage
) -> None:
    """10 bought Friday at 600 and 10 Monday at 610, both at the old level; then a 5-for-2: 50 at the broker is a
    5-for-2 of the books' 20, not a split between the fills."""
    broker = broker_for(alpaca)
    _buy(alpaca, storage, broker, date(2025, 12, 31), datetime(2026, 1, 2, 15, tzinfo=UTC), 600.0)
    _buy(alpaca, storage, broker, MONDAY, OPEN, 610.0)
    alpaca.split("SPY", 2.5)
    seen = _look(storage, broker, 244.0)
    assert seen.differences == [] and seen.managed.positions["SPY"].qty == 50
    assert [(s.looks_like(), s.books_qty) for s in seen.splits] == [("5-for-2", 20)]
