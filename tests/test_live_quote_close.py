"""A live quote's cut-off moves with the machine's clock (market/quotes.py `_cutoff`, LIVE_SLACK), but never past the
session's close: Alpaca's latest trade and quote include the post-market's, and a checkpoint begun in session whose
prices are asked after 16:00 (a long run, or the seconds of slack) would size its orders off an after-hours print
taken for a price of the session. Through the real alpaca-py client against the fake Alpaca."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import pytest

from llmtrade.market.alpaca_quotes import AlpacaQuotes
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.quotes import QuoteService
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_latest import FakeLatestPrices
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.fakes.running_clock import RunningClock

CALENDAR = TradingCalendar()
DAY = date(2026, 1, 7)
CLOSE = datetime.combine(DAY, time(16, 0), tzinfo=NEW_YORK)


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id="k", secret_key="s") as fake:
        yield fake


def _service(storage: Storage, server: FakeAlpacaServer, clock: RunningClock) -> QuoteService:
    synthetic = SyntheticMarket({"SPY": "equity"})
    market = MarketData([synthetic], BarCache(storage.conn), CALENDAR, Recording(storage.events, "r1"))
    alpaca = AlpacaQuotes(
        "k", "s", url_override=server.base_url, timeout_seconds=0.5, retry_attempts=2, retry_wait_seconds=0.01
    )
    return QuoteService(
        [alpaca], market, clock, staleness=timedelta(minutes=15), recording=Recording(storage.events, "r1")
    )


def _refusals(storage: Storage) -> list[tuple[list[str], str]]:
    return [(r.payload["symbols"], r.payload["reason"]) for r in storage.events.read(type="QuoteRefused")]


def test_a_checkpoint_begun_in_session_and_priced_after_the_close_takes_no_after_hours_print(
    storage: Storage, server: FakeAlpacaServer
) -> None:
    latest = FakeLatestPrices.install(server)
    clock = RunningClock(CLOSE - timedelta(minutes=10))
    started = clock.now()  # the 15:50 checkpoint's `now`
    clock.advance(timedelta(minutes=10, seconds=2))  # its models took ten minutes: prices are asked at 16:00:02
    latest.set_trade("SPY", 640.0, CLOSE + timedelta(seconds=1))  # a post-market print
    quotes, problems = _service(storage, server, clock).priced(["SPY"], started)
    assert quotes == {} and "SPY" in problems
    assert _refusals(storage) == [(["SPY"], "after-now")]


def test_the_live_slack_does_not_reach_past_the_close(storage: Storage, server: FakeAlpacaServer) -> None:
    latest = FakeLatestPrices.install(server)
    clock = RunningClock(CLOSE - timedelta(seconds=2))  # 15:59:58, in session
    latest.set_trade("SPY", 640.0, CLOSE + timedelta(seconds=1))  # within LIVE_SLACK of the clock, after the close
    quotes, problems = _service(storage, server, clock).priced(["SPY"])
    assert quotes == {} and "SPY" in problems
    assert _refusals(storage) == [(["SPY"], "after-now")]


def test_a_print_at_the_close_itself_is_still_the_sessions(storage: Storage, server: FakeAlpacaServer) -> None:
    latest = FakeLatestPrices.install(server)
    clock = RunningClock(CLOSE - timedelta(minutes=10))
    started = clock.now()
    clock.advance(timedelta(minutes=10, seconds=2))
    latest.set_trade("SPY", 640.0, CLOSE - timedelta(milliseconds=5))  # the session's last print
    quotes, problems = _service(storage, server, clock).priced(["SPY"], started)
    assert problems == {} and quotes["SPY"].price == 640.0
