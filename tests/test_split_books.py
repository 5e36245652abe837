"""A split applied to the paper books: a live paper account holding a stock when the provider's next answer restates
its history (market/splits.py records it; domain/ledger.py folds it with the fills). Before, the account kept its
pre-split shares at the post-split price: -75% on a 4-for-1, the circuit breaker halted it, the round trip across the
split booked a loss (found by the money review). Provider mocked at yfinance.download, as the market tests do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from math import trunc

import pytest

from llmtrade.brokers.fills import record_new_fills
from llmtrade.brokers.order_plan import client_order_id
from llmtrade.brokers.paper import PaperBroker
from llmtrade.brokers.reconcile import look
from llmtrade.config.models import CircuitBreaker
from llmtrade.domain.events import NewEvent
from llmtrade.domain.ledger import Split, closed_trade_pnls, round_trips, with_splits
from llmtrade.domain.market import Quote, SplitDetected
from llmtrade.domain.streams import SPLITS
from llmtrade.domain.trading import AccountSnapshot, Fill, OrderStatus, Side
from llmtrade.errors import MarketDataError, MarketDataUnavailable
from llmtrade.market.quote_provider import quote_of
from llmtrade.market.quotes import QuoteService
from llmtrade.market.service import MarketData
from llmtrade.risk.controls import breaker_change, evaluate_breaker
from llmtrade.risk.shadow import shadow_fills
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.splits import recorded_splits
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.market_series import START, good_bars
from tests.test_alpaca_broker import KEY_ID, SECRET, broker_for, order
from tests.test_live_price_jumps import _scaled
from tests.test_paper_broker import Clock as _Settable
from tests.test_paper_broker import _broker, _order
from tests.test_split_detection import BEFORE, SPLIT, answer, run

WEEK = date(2025, 12, 5)  # a Friday: the account buys at Monday's open


@pytest.fixture
def clock() -> _Settable:
    """The storage's clock and the broker's, one: an order's acceptance and a split's record are stamped as they
    happen (which orders a split cancels depends on it)."""
    return _Settable(_at(WEEK, 23))


Clock = _Settable
AFTER_SPLIT = date(2025, 12, 16)


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _bar(day: date):
    return next(b for b in good_bars() if b.day == day)


def _held_before_the_split(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch, ratio: float, qty: int, said: list[str]
) -> tuple[PaperBroker, Clock, MarketData]:
    """An account that bought `qty` SPY at an open before the split, at the old prices (`ratio` x the restated ones),
    its fill recorded; the cache holds the old prices up to the session before the split."""
    answer(monkeypatch, _scaled(good_bars(), ratio, before=date.max))
    market = run(storage, "r1", said)
    market.bars(["SPY"], START, BEFORE)
    clock.set(_at(WEEK, 23))
    broker = _broker(storage, clock, market, slippage_bps=0.0)  # type: ignore[arg-type]
    broker.submit(_order("SPY", Side.BUY, qty, "open"))
    clock.set(_at(BEFORE, 23))
    record_new_fills(storage.events, broker, week_id=WEEK, run_id="r1")
    return broker, clock, market


def _restated(storage: Storage, monkeypatch: pytest.MonkeyPatch, said: list[str], run_id: str = "r2") -> None:
    """The next run after the split's session: the provider answers with the whole history restated."""
    answer(monkeypatch, good_bars())
    run(storage, run_id, said).bars(["SPY"], START, SPLIT)


@pytest.mark.parametrize(("ratio", "qty"), [(4.0, 50), (1.5, 5), (0.1, 25)])
def test_a_position_held_across_a_split_is_multiplied_with_cash_in_lieu_and_its_equity_is_continuous(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch, ratio: float, qty: int
) -> None:
    said: list[str] = []
    broker, _, _ = _held_before_the_split(storage, clock, monkeypatch, ratio, qty, said)
    old_close = _bar(BEFORE).close * ratio
    before = broker.account({"SPY": old_close})
    assert before.positions["SPY"].qty == qty
    clock.set(_at(SPLIT, 23))
    # Before the split is recorded the account reads as it did (the bug: valued at the restated price).
    bug = broker.account({"SPY": _bar(SPLIT).close}).equity
    assert abs(bug - before.equity) > 0.5 * qty * abs(_bar(SPLIT).close - old_close)
    _restated(storage, monkeypatch, said)
    after = broker.account({"SPY": _bar(SPLIT).close})
    whole, price = trunc(qty * ratio), _bar(SPLIT).open
    fraction = qty * ratio - whole
    assert after.positions["SPY"].qty == whole
    # Reconciled against its own fills through the split: no mismatch, every share managed.
    seen = look(storage.events, broker, after, {"SPY": _bar(SPLIT).close})
    assert seen.differences == [] and seen.managed.positions["SPY"].qty == whole
    assert after.positions["SPY"].avg_price == pytest.approx(before.positions["SPY"].avg_price / ratio, abs=1e-4)
    assert after.cash == pytest.approx(before.cash + fraction * price, abs=0.01)
    # Continuous: the value moved by the stock's own move over the session, not by the split.
    moved = _bar(SPLIT).close / _bar(BEFORE).close
    held_value = qty * old_close
    assert after.equity == pytest.approx(before.cash + fraction * price + whole * _bar(SPLIT).close, abs=0.01)
    assert abs(after.equity - (before.cash + held_value * moved)) <= abs(fraction) * price + 0.01
    # The breaker sees the continuous equity: nothing halts.
    for equity in (before.equity, after.equity):
        state = evaluate_breaker(
            storage.events,
            "acct_1",
            starting_equity=100_000.0,
            equity=equity,
            fills=broker.fills(),
            config=CircuitBreaker(),
            week_id=WEEK,
            run_id="r2",
        )
        assert not state.halted
    # One split recorded, said once; the next run records and says nothing again, and the books do not apply it twice.
    _restated(storage, monkeypatch, said, run_id="r3")
    assert len(recorded_splits(storage.events)) == 1
    assert len([w for w in said if "restated its history" in w]) == 1
    assert broker.account({"SPY": _bar(SPLIT).close}) == after


def test_a_trade_bought_before_a_split_and_sold_after_it_is_one_trade_with_its_real_pnl(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    broker, _, _ = _held_before_the_split(storage, clock, monkeypatch, 4.0, 50, said)
    clock.set(_at(SPLIT, 23))
    _restated(storage, monkeypatch, said)
    broker.submit(_order("SPY", Side.SELL, 200, "close"))  # the whole position, in the shares after the split
    clock.set(_at(AFTER_SPLIT, 16))
    answer(monkeypatch, good_bars())
    record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")
    fills = broker.fills()
    assert [f.qty for f in fills] == [50, 200]
    flat: AccountSnapshot = broker.account({})
    assert flat.positions == {}
    [trip] = round_trips(with_splits(fills, recorded_splits(storage.events)))
    pnl = 200 * fills[1].price - 50 * fills[0].price
    assert (trip.direction, trip.fills) == ("LONG", 2) and trip.pnl == pytest.approx(pnl, abs=0.01)
    assert flat.realized_pnl == pytest.approx(pnl, abs=0.01)
    # The breaker counts that one trade, at that P/L (not a 75% loss and a short opened).
    state, payloads, _ = breaker_change(
        storage.events, "acct_1", starting_equity=100_000.0, equity=flat.equity, fills=fills, config=CircuitBreaker()
    )
    assert [p.trades_seen for p in payloads if type(p).__name__ == "BreakerUpdated"] == [1]
    assert pnl > 0 and (state.consecutive_wins, state.consecutive_losses) == (1, 0)


def test_an_order_queued_before_a_split_for_its_ex_day_waits_then_is_canceled_not_filled_at_four_times_its_size(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1-for-4 reverse split's old price is a quarter of the new: an order sized the evening before would fill at
    four times the value the gate approved."""
    said: list[str] = []
    broker, _, _ = _held_before_the_split(storage, clock, monkeypatch, 0.25, 40, said)
    cid = broker.submit(_order("SPY", Side.BUY, 100, "add")).client_order_id  # queued for the ex-day's open
    # The provider answers the ex-day's open at the new price, its history not restated yet (a feed late with it).
    answer(monkeypatch, _scaled(good_bars(), 0.25, before=SPLIT))
    clock.set(_at(SPLIT, 16))  # 11:00 New York: the open is known, at 4x the close before it
    assert [o.client_order_id for o in broker.open_orders()] == [cid]  # held: the open gaps like a split
    assert recorded_splits(storage.events) == ()
    assert [f.qty for f in broker.fills()] == [40]
    clock.set(_at(SPLIT, 23))
    _restated(storage, monkeypatch, said)
    result = broker.find(cid)
    assert result is not None and result.status is OrderStatus.CANCELED
    assert "SPY split 1-for-4 on 2025-12-15" in (result.message or "")
    assert broker.open_orders() == [] and [f.qty for f in broker.fills()] == [40]
    assert broker.account({}).positions["SPY"].qty == 10


@pytest.fixture
def alpaca() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        yield fake


def test_an_alpaca_account_split_at_the_broker_reconciles_once_the_split_is_recorded(
    alpaca: FakeAlpacaServer, storage: Storage
) -> None:
    """Alpaca splits the position itself; its fills stay as traded. Reconciliation summed the fills: the broker's 40
    shares against llmtrade's 10 was a quantity mismatch, and the managed view kept managing 10 (a checkpoint's EXIT
    would have left 30 behind). Through the real alpaca-py client against the loopback fake. The broker's position
    shows the split before any record of it (tests/test_split_alpaca.py); recorded, it is read from the record."""
    alpaca.set_price("SPY", 600)
    broker = broker_for(alpaca)
    buy = order(client_order_id(date(2026, 1, 5), "pm-alpha", "SPY", "open"))
    broker.submit(buy)
    alpaca.fill_open_orders()
    record_new_fills(storage.events, broker, week_id=buy.week_id, run_id="r1")
    alpaca.set_position("SPY", 40, 150.0)  # the 4-for-1 split, applied by Alpaca
    alpaca.set_price("SPY", 151)
    prices = {"SPY": 151.0}
    before = look(storage.events, broker, broker.account(prices), prices)
    assert before.differences == [] and [s.looks_like() for s in before.splits] == ["4-for-1"]
    ex_day = date.today() + timedelta(days=1)  # after the fill (the fake stamps fills now)
    split = SplitDetected(
        symbol="SPY", ex_day=ex_day, ratio=4.0, looks_like="4-for-1", price=150.0, provider="alpaca", evidence="test"
    )
    storage.events.append([NewEvent.of(split, stream=SPLITS, run_id="r2")])
    after = look(storage.events, broker, broker.account(prices), prices)
    assert after.differences == [] and after.splits == () and after.managed.positions["SPY"].qty == 40


class _Trades:
    """A quote provider answering one price for SPY, stamped a minute before now."""

    name = "trades"

    def __init__(self, price: float) -> None:
        self.price = price

    def latest(self, symbols: list[str], now: datetime) -> dict[str, Quote]:
        return {
            s: quote_of(s, self.price, now - timedelta(minutes=1), self.name, "trade", synthetic=False) for s in symbols
        }


def test_the_ex_days_first_price_at_a_splits_factor_records_the_split_then_not_after_the_close(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint at noon on the ex-day valued the old shares at the new price (-75%: the breaker halted the account
    until the split came to light after the close). A price at a split's factor from the last close asks the provider
    afresh: its history before the day, restated, records the split at once."""
    said: list[str] = []
    broker, _, market = _held_before_the_split(storage, clock, monkeypatch, 4.0, 50, said)
    answer(monkeypatch, good_bars())  # the provider restated its history on the ex-day's morning
    clock.set(datetime(2025, 12, 15, 17, tzinfo=UTC))  # noon in New York on the ex-day
    price = _bar(SPLIT).open
    quotes = QuoteService([_Trades(price)], market, clock, staleness=timedelta(minutes=15))
    assert quotes.quote("SPY").price == price
    [split] = recorded_splits(storage.events)
    assert (split.symbol, split.at.date(), split.named()) == ("SPY", SPLIT, "4-for-1")
    assert broker.account({"SPY": price}).positions["SPY"].qty == 200
    assert len([w for w in said if "SPY split 4-for-1 on 2025-12-15" in w]) == 1
    quotes.quote("SPY")  # asked once a day: the provider is not asked again
    _restated(storage, monkeypatch, said, run_id="r3")  # nor recorded again after the close
    assert len(recorded_splits(storage.events)) == 1 and len([w for w in said if "restated" in w]) == 1


def test_a_price_at_a_splits_factor_without_a_restated_history_records_nothing(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash to a quarter looks the same on the quote; the provider's history, not restated, says it is no split.
    Nor is the price a price until one is recorded (market/quote_checks.py): the account is not valued at it."""
    said: list[str] = []
    broker, _, market = _held_before_the_split(storage, clock, monkeypatch, 4.0, 50, said)
    clock.set(datetime(2025, 12, 15, 17, tzinfo=UTC))
    price = _bar(SPLIT).open
    with pytest.raises(MarketDataUnavailable, match="a 4-for-1 split's factor"):
        QuoteService([_Trades(price)], market, clock, staleness=timedelta(minutes=15)).quote("SPY")
    assert recorded_splits(storage.events) == () and broker.account({"SPY": price}).positions["SPY"].qty == 50


def test_an_order_queued_for_the_ex_days_open_is_canceled_at_its_first_look_once_the_provider_has_restated(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    broker, _, _ = _held_before_the_split(storage, clock, monkeypatch, 0.25, 40, said)
    cid = broker.submit(_order("SPY", Side.BUY, 100, "add")).client_order_id
    answer(monkeypatch, good_bars())  # restated by the ex-day's morning
    clock.set(_at(SPLIT, 16))
    assert broker.open_orders() == []  # the gapped open asked the provider: the split is recorded, the order canceled
    result = broker.find(cid)
    assert result is not None and result.status is OrderStatus.CANCELED
    assert broker.account({}).positions["SPY"].qty == 10 and [f.qty for f in broker.fills()] == [40]


def test_a_halted_accounts_shadow_bought_before_a_split_is_closed_whole_after_it_at_its_real_pnl() -> None:
    """The shadow book (what a halted account would have traded) folds its fills as the books do: its roll after a
    4-for-1 split closed 10 of 40 shares and counted a 75% loss toward the halt (found checking every fold of fills)."""
    bought = Fill(
        client_order_id="shadow-w1-SPY-0",
        account_id="acct_1",
        symbol="SPY",
        side=Side.BUY,
        qty=10,
        price=400.0,
        commission=0.0,
        filled_at=_at(BEFORE, 15),
    )
    split = Split.of(
        SplitDetected(
            symbol="SPY", ex_day=SPLIT, ratio=4.0, looks_like="4-for-1", price=101.0, provider="t", evidence="t"
        )
    )
    args = {"instrument": "SPY", "target": 0, "prices": {"SPY": 110.0}, "roll": True, "source": "w2"}
    [close] = shadow_fills("acct_1", [bought], **args, at=_at(AFTER_SPLIT, 15), splits=[split])  # type: ignore[arg-type]
    assert (close.side, close.qty) == (Side.SELL, 40)
    assert closed_trade_pnls(with_splits([bought, close], [split])) == [pytest.approx(40 * 110.0 - 10 * 400.0)]


def test_a_provider_failing_the_ex_days_second_look_leaves_the_quote_as_it_was(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second look at a gapped price is best effort: a provider failing it (down, or answering in a shape it
    cannot read) is not the checkpoint's error; the price, no split recorded, is no price (temporary: exit 75), and the
    run's own fetch after the close decides."""
    _, _, market = _held_before_the_split(storage, clock, monkeypatch, 4.0, 50, [])

    def failing(*_: object) -> dict:
        raise MarketDataError("alpaca market data answered in an unexpected shape")

    monkeypatch.setattr(market.providers[0], "daily_bars", failing)
    clock.set(datetime(2025, 12, 15, 17, tzinfo=UTC))
    price = _bar(SPLIT).open
    with pytest.raises(MarketDataUnavailable, match="not a price until the split is recorded"):
        QuoteService([_Trades(price)], market, clock, staleness=timedelta(minutes=15)).quote("SPY")
    assert recorded_splits(storage.events) == ()
