"""A paper order taken in session fills at the quote the broker asked for, and no earlier than that quote's stamp. On
the machine's clock the quote service takes a print stamped after the instant it was asked at (e582159b: Alpaca stamps
its latest trade of a liquid symbol at about the moment it answers); the paper broker stamped the fill at the instant
it asked, before the print it was priced at. Through the real alpaca-py client against the fake Alpaca."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import pytest

from llmtrade.brokers.paper import PaperBroker
from llmtrade.clock import FixedClock
from llmtrade.domain.trading import Side
from llmtrade.market.alpaca_quotes import AlpacaQuotes
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.quotes import QuoteService
from llmtrade.market.service import MarketData
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_latest import FakeLatestPrices
from tests.fakes.alpaca_server import FakeAlpacaServer, FakeRequest, FakeResponse
from tests.fakes.running_clock import RunningClock
from tests.test_paper_broker import Opens, _order

CALENDAR = TradingCalendar()
NOON = datetime.combine(date(2026, 1, 7), time(12, 0), tzinfo=NEW_YORK)
ANSWER_TAKES = timedelta(seconds=1)


class PrintedAsAsked(FakeLatestPrices):
    """SPY trading every moment: its latest trade is stamped when Alpaca answers, and the answer takes a second to
    come back (`ANSWER_TAKES` on the test's clock)."""

    clock: RunningClock | FixedClock

    def _latest_trades(self, request: FakeRequest) -> FakeResponse:
        self.set_trade("SPY", 601.0, self.clock.now() + timedelta(milliseconds=100))
        if isinstance(self.clock, RunningClock):
            self.clock.advance(ANSWER_TAKES)
        return super()._latest_trades(request)


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id="k", secret_key="s") as fake:
        yield fake


def _paper(storage: Storage, server: FakeAlpacaServer, clock: RunningClock | FixedClock) -> PaperBroker:
    latest = PrintedAsAsked.install(server)
    latest.clock = clock
    synthetic = SyntheticMarket({"SPY": "equity"})
    alpaca = AlpacaQuotes(
        "k", "s", url_override=server.base_url, timeout_seconds=2.0, retry_attempts=1, retry_wait_seconds=0.01
    )
    quotes = QuoteService(
        [alpaca], MarketData([synthetic], BarCache(storage.conn), CALENDAR), clock, staleness=timedelta(minutes=15)
    )
    return PaperBroker(
        "acct_1",
        starting_cash=100_000.0,
        events=storage.events,
        clock=clock,
        calendar=CALENDAR,
        prices=Opens({}),
        quotes=quotes,
    )


def test_a_paper_fill_on_the_live_clock_is_stamped_no_earlier_than_the_print_it_is_priced_at(
    storage: Storage, server: FakeAlpacaServer
) -> None:
    clock = RunningClock(NOON)
    broker = _paper(storage, server, clock)
    asked = clock.now()
    broker.submit(_order("SPY", Side.BUY, 10))
    [fill] = broker.fills()
    accepted = storage.events.read(type="PaperOrderAccepted")[0].payload
    printed = datetime.fromisoformat(accepted["quote"]["as_of"])
    assert printed > asked  # the premise: a print stamped after the order was taken, accepted as its price
    assert fill.filled_at >= printed, (fill.filled_at, printed)
    assert fill.price == round(601.0 * 1.0005, 4)


def test_a_paper_fill_on_a_chosen_clock_keeps_its_instant(storage: Storage, server: FakeAlpacaServer) -> None:
    # LLMTRADE_NOW: the print 100 ms after the chosen instant is the future, refused; nothing fills.
    clock = FixedClock(NOON)
    broker = _paper(storage, server, clock)
    with pytest.raises(Exception, match="after now"):
        broker.submit(_order("SPY", Side.BUY, 10))
    assert broker.fills() == []
