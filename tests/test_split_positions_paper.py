"""A split recorded from an Alpaca position before the ex-day's open (provider 'alpaca positions') is on the one splits
stream every account's books read: a paper account holding the same symbol is multiplied from the ex-day's midnight,
while the run's prices are still the last close in the old shares. Valued at that close, its 200 shares read four
times their worth (+300% on the position), the breaker's high-water mark with them, and the next valuation at real
prices a drawdown that halts the account. Through the real parts: the PaperBroker on PostgreSQL, the weekly run's risk
stage, the split recorded as brokers/split_positions.py records it."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest

from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.events import EventSink, NewEvent
from llmtrade.domain.market import SplitDetected
from llmtrade.domain.streams import SPLITS
from llmtrade.domain.trading import Side
from llmtrade.market.calendar import TradingCalendar
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.projections import WEEK_START
from llmtrade.workflows.broker_splits import SeenSplits
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.trading_stages import PRICES, RiskStage
from tests.market_series import START, good_bars
from tests.test_live_price_jumps import _scaled
from tests.test_paper_broker import _broker, _order
from tests.test_reconciliation import CONFIG, _context
from tests.test_split_books import WEEK as FRIDAY
from tests.test_split_books import Clock, _at, _bar, _held_before_the_split
from tests.test_split_books import clock as clock
from tests.test_split_detection import BEFORE, SPLIT, answer, run

PRE_OPEN = datetime(2025, 12, 15, 13, tzinfo=UTC)  # the ex-day, 08:00 New York
WEEK = date(2025, 12, 15)


def recorded_from_alpacas_position(events: EventSink, ex_day: date = SPLIT, price: float | None = None) -> None:
    """What record_splits writes when another account's Alpaca position shows a 4-for-1 of SPY before the open (`price`:
    the last close split; by default the restated close before SPLIT)."""
    split = SplitDetected(
        symbol="SPY",
        ex_day=ex_day,
        ratio=4.0,
        looks_like="4-for-1",
        price=round(_bar(BEFORE).close, 4) if price is None else price,
        provider="alpaca positions",
        evidence="acct_2's position at alpaca: 40 at 150.00 where llmtrade's records hold 10 at 600.00",
    )
    events.append([NewEvent.of(split, stream=SPLITS)])


def test_a_paper_account_holding_a_symbol_split_at_alpaca_is_valued_in_the_new_shares_before_the_open(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker, _, _ = _held_before_the_split(storage, clock, monkeypatch, 4.0, 50, [])
    old_close = _bar(BEFORE).close * 4  # Friday's close, the old shares'
    held = broker.account({"SPY": old_close})
    recorded_from_alpacas_position(storage.events)
    clock.set(PRE_OPEN)
    context = _context({"SPY": old_close}, WEEK, "run-w", asof=PRE_OPEN, session=BEFORE, suspect={})
    stage = RiskStage([Desk(CONFIG.accounts.account("acct_1"), broker)], CONFIG, storage.events, WEEK)
    done = asyncio.run(stage.run(context))
    [valued] = [AccountValued.from_event(e) for e in storage.events.read(type="AccountValued")]
    assert valued.occasion == WEEK_START
    # The same money as at Friday's close: 200 shares at a quarter of it (the bug: 200 at the old close).
    assert valued.equity == pytest.approx(held.equity, abs=0.01)
    assert done.get(PRICES) == {
        "SPY": pytest.approx(old_close / 4)
    }  # what execution values the account at after a fill

    # A checkpoint before the open reads the same close: its valuation is put in the new shares the same way.
    seen = SeenSplits(storage.events, WEEK, dry_run=False)
    read = seen.read_at("acct_1", {"SPY": old_close, "TLT": 90.0}, TradingCalendar(), _at(SPLIT, 13))
    assert read == {"SPY": pytest.approx(old_close / 4), "TLT": 90.0}
    assert broker.account(read).equity == pytest.approx(held.equity, abs=0.01)
    # After the open the price is the new shares' already: as it is.
    assert seen.read_at("acct_1", {"SPY": old_close / 4 * 0.98}, TradingCalendar(), _at(SPLIT, 16)) == {
        "SPY": old_close / 4 * 0.98
    }


def test_a_fill_not_recorded_before_a_split_read_from_an_alpaca_position_is_priced_as_it_traded(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An order queued on Friday filled at Monday's open, at the old prices, and no run recorded the fill before the
    split (the machine off for the week): its price is derived from the cached open. The paper broker took every
    cached open as restated once a split is recorded (a split found in a restated history is cached so) and multiplied
    it by the ratio; the cache is not restated for a split read from a broker's position, so the 50 shares were bought
    at four times their price, and a run recording the fill would have kept the loss for good."""
    answer(monkeypatch, _scaled(good_bars(), 4.0, before=date.max))  # the old prices, cached as traded
    run(storage, "r1", []).bars(["SPY"], START, BEFORE)
    clock.set(_at(FRIDAY, 23))
    broker = _broker(storage, clock, run(storage, "r1", []), slippage_bps=0.0)  # type: ignore[arg-type]
    broker.submit(_order("SPY", Side.BUY, 50, "open"))
    recorded_from_alpacas_position(storage.events)
    clock.set(PRE_OPEN)
    [fill] = broker.fills()
    monday = date(2025, 12, 8)
    assert fill.price == pytest.approx(_bar(monday).open * 4)  # the open as it traded, in the old shares
    held = broker.account({"SPY": _bar(BEFORE).close})  # Friday's close, in the new shares
    assert held.positions["SPY"].qty == 200
    assert held.cash == pytest.approx(100_000.0 - 50 * _bar(monday).open * 4, abs=0.01)
