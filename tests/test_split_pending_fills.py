"""An order that filled at an open before a split's ex-day, its fill first derived after the provider restated its
history: the paper broker took that open from the restated bars (a quarter of the price traded on a 4-for-1) for the
shares as ordered, so the split multiplied shares bought at a quarter of their price (found reviewing the change).
Provider mocked at yfinance.download, as the split tests do."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from llmtrade.brokers.fills import record_new_fills
from llmtrade.domain.trading import Side
from llmtrade.market.quotes import QuoteService
from llmtrade.market.service import MarketData
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.splits import recorded_splits
from tests.market_series import START, good_bars
from tests.test_live_price_jumps import _scaled
from tests.test_paper_broker import _broker, _order
from tests.test_split_books import WEEK, Clock, _at, _bar, _restated, _Trades
from tests.test_split_books import clock as clock  # the fixture
from tests.test_split_detection import BEFORE, SPLIT, answer, run

THURSDAY = date(2025, 12, 11)


def _queued_for_the_last_open_before_the_split(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch, ratio: float
) -> MarketData:
    """The cache at the old prices up to the session before the split; 50 SPY ordered Thursday evening, for Friday's
    open (the session before the ex-day), with no look at the account until after the split."""
    answer(monkeypatch, _scaled(good_bars(), ratio, before=date.max))
    market = run(storage, "r1", [])
    market.bars(["SPY"], START, BEFORE)
    clock.set(_at(THURSDAY, 23))
    _broker(storage, clock, market, slippage_bps=0.0).submit(_order("SPY", Side.BUY, 50, "open"))  # type: ignore[arg-type]
    return market


def _books_after(storage: Storage, clock: Clock, ratio: float) -> None:
    """A later process's broker records the fill: at Friday's open as traded, the position split at its ex-day."""
    broker = _broker(storage, clock, run(storage, "r3", []), slippage_bps=0.0)  # type: ignore[arg-type]
    record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")
    [fill] = broker.fills()
    traded = _bar(BEFORE).open * ratio
    assert fill.price == pytest.approx(traded, abs=1e-3)
    account = broker.account({"SPY": _bar(SPLIT).close})
    assert account.positions["SPY"].qty == 50 * ratio
    assert account.cash == pytest.approx(100_000.0 - 50 * traded, abs=0.01)


@pytest.mark.parametrize("ratio", [4.0, 0.5])
def test_an_open_before_the_ex_day_derived_after_the_close_fetch_restated_it_fills_at_the_price_traded(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch, ratio: float
) -> None:
    _queued_for_the_last_open_before_the_split(storage, clock, monkeypatch, ratio)
    clock.set(_at(SPLIT, 23))
    _restated(storage, monkeypatch, [])  # the ex-day's close fetch: the split recorded, the cache restated
    assert len(recorded_splits(storage.events)) == 1
    _books_after(storage, clock, ratio)


def test_an_open_before_the_ex_day_derived_after_the_ex_days_quote_recorded_the_split_fills_at_the_price_traded(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The split recorded at the ex-day's first price (market/service.confirm_splits): the provider's restated
    sessions before the day are cached with it, so every read of them after the record is restated alike."""
    market = _queued_for_the_last_open_before_the_split(storage, clock, monkeypatch, 4.0)
    answer(monkeypatch, good_bars())
    clock.set(datetime(2025, 12, 15, 17, tzinfo=UTC))  # noon in New York on the ex-day
    QuoteService([_Trades(_bar(SPLIT).open)], market, clock, staleness=timedelta(minutes=15)).quote("SPY")
    assert len(recorded_splits(storage.events)) == 1
    cached = BarCache(storage.conn).read(["SPY"], BEFORE, BEFORE, synthetic=False)["SPY"]
    assert cached[0].open == pytest.approx(_bar(BEFORE).open)  # restated with the record
    _books_after(storage, clock, 4.0)
