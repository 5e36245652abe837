"""A paper fill is never stamped before the print it is priced at, whatever the provider's clock says.

The quote service takes a live print stamped up to LIVE_SLACK (5 s) after our clock (market/quotes.py): a provider
whose clock runs a few seconds ahead of ours (an NTP drift, Alpaca's stamps are its own) answers at once with a trade
stamped "4 s from now". The paper broker stamped the fill at our clock read once the quote was in: 4 s before the
trade it was priced at. Through the real alpaca-py client against the fake Alpaca."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import pytest

from llmtrade.brokers.paper import PaperBroker
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
AHEAD = timedelta(seconds=4)  # inside LIVE_SLACK: taken as a skew, not as a bad stamp


class AheadOfUs(FakeLatestPrices):
    """SPY trading every moment, stamped by a provider clock `AHEAD` of ours; the answer comes back at once."""

    clock: RunningClock

    def _latest_trades(self, request: FakeRequest) -> FakeResponse:
        self.set_trade("SPY", 601.0, self.clock.now() + AHEAD)
        return super()._latest_trades(request)


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id="k", secret_key="s") as fake:
        yield fake


def _paper(storage: Storage, server: FakeAlpacaServer, clock: RunningClock) -> PaperBroker:
    latest = AheadOfUs.install(server)
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


def test_a_fill_priced_at_a_print_from_a_clock_ahead_of_ours_is_stamped_no_earlier_than_the_print(
    storage: Storage, server: FakeAlpacaServer
) -> None:
    clock = RunningClock(NOON)
    broker = _paper(storage, server, clock)
    broker.submit(_order("SPY", Side.BUY, 10))
    [fill] = broker.fills()
    accepted = storage.events.read(type="PaperOrderAccepted")[0].payload
    printed = datetime.fromisoformat(accepted["quote"]["as_of"])
    assert printed > clock.now()  # the premise: a print stamped ahead of our clock, taken as the price
    assert datetime.fromisoformat(accepted["fill_after"]) >= printed
    assert fill.filled_at >= printed, (fill.filled_at, printed)
    assert fill.price == round(601.0 * 1.0005, 4)


def test_a_fill_seconds_before_the_close_at_a_print_ahead_is_still_the_sessions(
    storage: Storage, server: FakeAlpacaServer
) -> None:
    # 15:59:58 by our clock, the print 16:00:02 by the provider's: after the close, refused (536551a0); one of 15:59:57
    # (ours 15:59:53) is the session's, and its fill is stamped at the print, before the close.
    clock = RunningClock(NOON.replace(hour=15, minute=59, second=53))
    broker = _paper(storage, server, clock)
    broker.submit(_order("SPY", Side.BUY, 10))
    [fill] = broker.fills()
    closes = CALENDAR.session_close(NOON.date())
    printed = datetime.fromisoformat(storage.events.read(type="PaperOrderAccepted")[0].payload["quote"]["as_of"])
    assert printed <= fill.filled_at <= closes
