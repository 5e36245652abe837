"""One split, found twice: read from Alpaca's position (brokers/split_positions.py) and from the provider's restated
history (market/splits.py), in either order, across a weekend. Before, a split Alpaca applied the evening before its
ex-day and seen after that day's close was recorded for that day (Thursday) and the market's later finding of Friday
was not known: recorded again, it multiplied the shares twice (160 for the 40 Alpaca holds). And a split seen on a
Saturday was placed on Monday, after the session it came in. Real alpaca-py client on the loopback fake; the provider
mocked at yfinance.download, as the market tests do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.fills import record_new_fills
from llmtrade.brokers.order_plan import client_order_id
from llmtrade.brokers.reconcile import Reconciliation, look
from llmtrade.brokers.reconcile_records import record_splits
from llmtrade.domain.market import Quote, SplitDetected
from llmtrade.domain.streams import SPLITS
from llmtrade.market.quote_checks import suspect
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.market_series import START, good_bars
from tests.test_alpaca_broker import KEY_ID, SECRET, broker_for, order
from tests.test_live_price_jumps import _scaled
from tests.test_split_detection import answer, run

WEEK = date(2025, 12, 5)
WEDNESDAY, THURSDAY, FRIDAY = date(2025, 12, 10), date(2025, 12, 11), date(2025, 12, 12)  # Friday: the real ex-day
MONDAY = date(2025, 12, 15)
THURSDAY_EVENING = datetime(2025, 12, 11, 22, tzinfo=UTC)  # 17:00 New York, after the close: Alpaca has split
SATURDAY = datetime(2025, 12, 13, 15, tzinfo=UTC)


@pytest.fixture
def alpaca() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        yield fake


def _close(day: date) -> float:
    return next(b.close for b in good_bars() if b.day == day)


def _held(alpaca: FakeAlpacaServer, storage: Storage, monkeypatch: pytest.MonkeyPatch) -> AlpacaBroker:
    """10 SPY bought on Wednesday at the old price (4x the restated one), the cache holding the old prices up to
    Thursday; then Alpaca splits the position 4-for-1 for Friday's open."""
    answer(monkeypatch, _scaled(good_bars(), 4.0, before=date.max))
    run(storage, "r1", []).bars(["SPY"], START, THURSDAY)
    broker = broker_for(alpaca)
    alpaca.set_time(datetime(2025, 12, 10, 15, tzinfo=UTC))
    alpaca.set_price("SPY", _close(WEDNESDAY) * 4)
    broker.submit(order(client_order_id(WEEK, "pm-alpha", "SPY", "open"), week_id=WEEK))
    alpaca.fill_open_orders()
    record_new_fills(storage.events, broker, week_id=WEEK, run_id="r1")
    alpaca.set_position("SPY", 40, _close(WEDNESDAY))
    return broker


def _look(storage: Storage, broker: AlpacaBroker) -> Reconciliation:
    prices = {"SPY": _close(FRIDAY)}
    return look(storage.events, broker, broker.account(prices), prices)


def _market_finds_it(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run after Friday's close: the provider restates the whole history."""
    answer(monkeypatch, good_bars())
    run(storage, "r2", []).bars(["SPY"], START, FRIDAY)


def _records(storage: Storage) -> list[SplitDetected]:
    return [SplitDetected.from_event(e) for e in storage.events.read(stream=SPLITS)]


def _applied_once(storage: Storage, broker: AlpacaBroker) -> None:
    seen = _look(storage, broker)
    assert seen.differences == [] and seen.splits == ()
    assert seen.ledger.qty("SPY") == 40 and seen.managed.positions["SPY"].qty == 40


@pytest.mark.parametrize(
    ("now", "latest"), [(THURSDAY_EVENING, FRIDAY), (SATURDAY, MONDAY)], ids=["thursday-evening", "saturday"]
)
def test_a_split_read_from_alpacas_position_first_is_the_one_the_market_finds_later_applied_once(
    alpaca: FakeAlpacaServer, storage: Storage, monkeypatch: pytest.MonkeyPatch, now: datetime, latest: date
) -> None:
    """The position shows the split; it came after Wednesday's fill and by the session Alpaca split for: recorded
    from Thursday (the first session after the fill) to `latest`, a window holding the real Friday. The market's
    restatement of Friday is that split, not a second one."""
    broker = _held(alpaca, storage, monkeypatch)
    seen = _look(storage, broker)
    record_splits(storage.events, seen, broker.name, now, {"SPY": _close(WEDNESDAY) * 4}, week_id=WEEK, run_id="c1")
    [split] = _records(storage)
    assert (split.ex_day, split.latest, split.provider) == (THURSDAY, latest, "alpaca positions")
    _applied_once(storage, broker)

    _market_finds_it(storage, monkeypatch)
    assert len(_records(storage)) == 1
    _applied_once(storage, broker)


def test_a_split_the_market_found_first_is_not_recorded_again_from_alpacas_position(
    alpaca: FakeAlpacaServer, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The restatement is recorded for Friday; Saturday's look at Alpaca reads the split from that record: the
    position is no split to record again, nor a mismatch."""
    broker = _held(alpaca, storage, monkeypatch)
    _market_finds_it(storage, monkeypatch)
    [split] = _records(storage)
    assert (split.ex_day, split.looks_like) == (FRIDAY, "4-for-1")
    seen = _look(storage, broker)
    record_splits(storage.events, seen, broker.name, SATURDAY, {"SPY": _close(FRIDAY)}, week_id=WEEK, run_id="c1")
    assert len(_records(storage)) == 1
    _applied_once(storage, broker)


def test_the_ex_days_first_price_is_explained_by_a_split_recorded_for_a_window_holding_that_day(
    alpaca: FakeAlpacaServer, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recorded Thursday evening from the position (Thursday..Friday), the split explains Friday's quote at a quarter
    of Thursday's cached close: a price, not a bad print (before, only an ex-day after the last cached day did)."""
    broker = _held(alpaca, storage, monkeypatch)
    record_splits(storage.events, _look(storage, broker), broker.name, THURSDAY_EVENING, {}, week_id=WEEK, run_id="c")
    before = [b for b in _scaled(good_bars(), 4.0, before=date.max) if b.day <= THURSDAY]
    at = datetime(2025, 12, 12, 15, tzinfo=UTC)
    quote = Quote(symbol="SPY", price=before[-1].close / 4 * 1.01, as_of=at, provider="alpaca", kind="trade")
    assert suspect(quote, before, _records(storage), []) is None
    assert suspect(quote, before, [], []) is not None  # unexplained, the same price is suspect
