"""Live quotes against a running clock: a checkpoint reads its `now` when it starts, and asks for prices seconds
later (the database opened, the week locked, the broker asked); Alpaca's latest trade of a liquid symbol is stamped
at about the moment it answers, by Alpaca's clock. Through the real alpaca-py client against the fake Alpaca."""

from __future__ import annotations

import time as wall
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import pytest

from llmtrade.market.alpaca_quotes import AlpacaQuotes
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.quotes import QuoteService
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.market.synthetic_quotes import SyntheticQuotes
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_latest import FakeLatestPrices
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.fakes.running_clock import RunningClock

CALENDAR = TradingCalendar()
NOON = datetime.combine(date(2026, 1, 7), time(12, 0), tzinfo=NEW_YORK)


class FixedRunningClock(RunningClock):
    """The same moving clock, but one somebody chose (LLMTRADE_NOW, a backtest's step): `real` False."""

    real = False


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id="k", secret_key="s") as fake:
        yield fake


def _service(storage: Storage, server: FakeAlpacaServer, clock: RunningClock) -> QuoteService:
    synthetic = SyntheticMarket({"SPY": "equity", "TLT": "rates"})
    market = MarketData([synthetic], BarCache(storage.conn), CALENDAR, Recording(storage.events, "r1"))
    alpaca = AlpacaQuotes(
        "k", "s", url_override=server.base_url, timeout_seconds=0.5, retry_attempts=2, retry_wait_seconds=0.01
    )
    return QuoteService(
        [alpaca, SyntheticQuotes(synthetic, CALENDAR)],
        market,
        clock,
        staleness=timedelta(minutes=15),
        recording=Recording(storage.events, "r1"),
    )


def test_a_live_checkpoint_takes_a_trade_stamped_after_it_started_but_before_the_answer(
    storage: Storage, server: FakeAlpacaServer
) -> None:
    latest = FakeLatestPrices.install(server)
    clock = RunningClock(NOON)
    started = clock.now()  # the checkpoint's `now`, read at its start
    wall.sleep(0.2)  # the database, the week's lock, the broker's look
    latest.set_trade("SPY", 601.0, clock.now())  # SPY trades every moment: its latest print is about now
    quotes, problems = _service(storage, server, clock).priced(["SPY"], started)
    assert problems == {}
    assert quotes["SPY"].provider == "alpaca" and quotes["SPY"].price == 601.0
    assert storage.events.read(type="QuoteRefused") == []


def test_a_live_clock_a_second_behind_the_providers_still_takes_its_latest_trade(
    storage: Storage, server: FakeAlpacaServer
) -> None:
    latest = FakeLatestPrices.install(server)
    clock = RunningClock(NOON)
    latest.set_trade("SPY", 601.0, clock.now() + timedelta(seconds=1))  # Alpaca's clock a second ahead of ours
    quotes, problems = _service(storage, server, clock).priced(["SPY"], clock.now())
    assert problems == {} and quotes["SPY"].provider == "alpaca"


def test_a_print_stamped_well_after_the_live_clock_is_still_refused(storage: Storage, server: FakeAlpacaServer) -> None:
    latest = FakeLatestPrices.install(server)
    clock = RunningClock(NOON)
    latest.set_trade("SPY", 601.0, clock.now() + timedelta(minutes=2))  # no clock skew explains it: a bad stamp
    quotes, _ = _service(storage, server, clock).priced(["SPY"], clock.now())
    assert quotes["SPY"].provider == "synthetic"
    refused = [r.payload for r in storage.events.read(type="QuoteRefused")]
    assert [(r["symbols"], r["reason"]) for r in refused] == [(["SPY"], "after-now")]


def test_a_chosen_clock_keeps_the_instant_asked_for_nothing_after_it(
    storage: Storage, server: FakeAlpacaServer
) -> None:
    # A backtest's or LLMTRADE_NOW's instant is the moment the run pretends to be: a print after it is the future.
    latest = FakeLatestPrices.install(server)
    clock = FixedRunningClock(NOON)
    asked = clock.now()
    latest.set_trade("SPY", 601.0, asked + timedelta(milliseconds=200))
    wall.sleep(0.3)
    quotes, _ = _service(storage, server, clock).priced(["SPY"], asked)
    assert quotes["SPY"].provider == "synthetic"
    refused = [r.payload for r in storage.events.read(type="QuoteRefused")]
    assert [(r["symbols"], r["reason"]) for r in refused] == [(["SPY"], "after-now")]
