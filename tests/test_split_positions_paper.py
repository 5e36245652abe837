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
from llmtrade.domain.events import NewEvent
from llmtrade.domain.market import SplitDetected
from llmtrade.domain.streams import SPLITS
from llmtrade.market.calendar import TradingCalendar
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.projections import WEEK_START
from llmtrade.workflows.broker_splits import SeenSplits
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.trading_stages import PRICES, RiskStage
from tests.test_reconciliation import CONFIG, _context
from tests.test_split_books import Clock, _at, _bar, _held_before_the_split
from tests.test_split_books import clock as clock
from tests.test_split_detection import BEFORE, SPLIT

PRE_OPEN = datetime(2025, 12, 15, 13, tzinfo=UTC)  # the ex-day, 08:00 New York
WEEK = date(2025, 12, 15)


def _recorded_from_alpacas_position(storage: Storage) -> None:
    """What record_splits writes when another account's Alpaca position shows the 4-for-1 before the open."""
    split = SplitDetected(
        symbol="SPY",
        ex_day=SPLIT,
        ratio=4.0,
        looks_like="4-for-1",
        price=round(_bar(BEFORE).close, 4),
        provider="alpaca positions",
        evidence="acct_2's position at alpaca: 40 at 150.00 where llmtrade's records hold 10 at 600.00",
    )
    storage.events.append([NewEvent.of(split, stream=SPLITS)])


def test_a_paper_account_holding_a_symbol_split_at_alpaca_is_valued_in_the_new_shares_before_the_open(
    storage: Storage, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker, _, _ = _held_before_the_split(storage, clock, monkeypatch, 4.0, 50, [])
    old_close = _bar(BEFORE).close * 4  # Friday's close, the old shares'
    held = broker.account({"SPY": old_close})
    _recorded_from_alpacas_position(storage)
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
