"""An in-session price far from the last close is a bad print, not a price: never a fill, a stop or a size.

Alpaca through the real alpaca-py client against the loopback fake's latest-trade endpoint (the JSON Alpaca sends,
a trade's conditions and all), Yahoo through yfinance with its chart JSON served at the transport; the synthetic
market as the next provider and as the daily bars the price is looked against (fetched into the real bar cache on
PostgreSQL, as a run's fetch leaves them).
"""

from __future__ import annotations

import warnings
from datetime import date, datetime, time, timedelta
from functools import partial
from pathlib import Path

import pytest

from llmtrade.brokers.paper import PaperBroker
from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent
from llmtrade.domain.market import SplitDetected
from llmtrade.domain.streams import SPLITS
from llmtrade.domain.trading import Order, OrderStatus, Side
from llmtrade.errors import MarketDataUnavailable
from llmtrade.market.alpaca_quotes import AlpacaQuotes
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.quote_checks import recorded_quotes
from llmtrade.market.quotes import QuoteService
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.splits import splits_before
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.market.synthetic_quotes import SyntheticQuotes
from llmtrade.market.yfinance_quotes import YFinanceQuotes
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_latest import FakeLatestPrices
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.fakes.yahoo_transport import YahooIntraday, minute_bars
from tests.test_alpaca_quotes import KEY_ID, SECRET
from tests.test_alpaca_quotes import latest as latest  # the fixture
from tests.test_alpaca_quotes import server as server  # the fixture

DAY = date(2026, 1, 7)  # a Wednesday, a full session
CALENDAR = TradingCalendar()
SYNTHETIC = SyntheticMarket({"SPY": "equity", "TLT": "rates"})


def at(hh: int, mm: int) -> datetime:
    return datetime.combine(DAY, time(hh, mm), tzinfo=NEW_YORK)


NOON = at(12, 0)


def service(storage: Storage, server: FakeAlpacaServer, *, fallback: bool = True, now: datetime = NOON):  # type: ignore[no-untyped-def]
    """The quote service of a recorded run: Alpaca first, the synthetic market next; the last sessions' bars cached."""
    recording = Recording(storage.events, "r1", splits_before=lambda: splits_before(storage.events))
    market = MarketData([SYNTHETIC], BarCache(storage.conn), CALENDAR, recording)
    market.bars(["SPY", "TLT"], DAY - timedelta(days=20), CALENDAR.previous_session(DAY))
    alpaca = AlpacaQuotes(KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=0.5, retry_attempts=1)
    providers = [alpaca, SyntheticQuotes(SYNTHETIC, CALENDAR)] if fallback else [alpaca]
    quotes = QuoteService(providers, market, FixedClock(now), staleness=timedelta(minutes=15), recording=recording)
    return market, quotes


def last_close(symbol: str) -> float:
    before = CALENDAR.previous_session(DAY)
    return SYNTHETIC.daily_bars([symbol], before, before)[symbol][0].close


def refusals(storage: Storage) -> list[dict]:
    return [e.payload for e in storage.events.read(type="QuoteRefused")]


def test_a_bad_print_is_no_price_and_the_next_provider_prices_the_symbol(
    storage: Storage, server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    latest.set_trade("SPY", round(last_close("SPY") * 2.5, 2), at(11, 59))  # one trade at 2.5x the market
    latest.set_trade("TLT", round(last_close("TLT") * 1.004, 2), at(11, 59))  # an ordinary one
    _, quotes = service(storage, server)
    priced = quotes.quotes(["SPY", "TLT"])
    assert priced["SPY"].provider == "synthetic"
    assert priced["SPY"].price == pytest.approx(last_close("SPY"), rel=0.1)
    assert priced["TLT"].provider == "alpaca"
    [refused] = refusals(storage)
    assert (refused["provider"], refused["symbols"], refused["reason"]) == ("alpaca", ["SPY"], "suspect")
    assert "2.50x its last close" in refused["error"] and "bad print" in refused["error"]


def test_with_no_other_provider_a_bad_print_leaves_the_symbol_without_a_price_said_and_recorded(
    storage: Storage, server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    latest.set_trade("TLT", round(last_close("TLT") * 0.4, 2), at(11, 58))
    _, quotes = service(storage, server, fallback=False)
    with pytest.raises(MarketDataUnavailable) as failed:
        quotes.quote("TLT")
    assert "no quote provider has a current price for TLT" in str(failed.value)
    assert "0.40x its last close" in str(failed.value) and "bad print" in str(failed.value)
    assert [r["reason"] for r in refusals(storage)] == ["suspect"]


def test_a_paper_order_is_not_filled_at_a_bad_print(
    storage: Storage, server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    latest.set_trade("SPY", round(last_close("SPY") * 0.4, 2), at(11, 59))
    market, quotes = service(storage, server, fallback=False)
    broker = PaperBroker(
        "acct_1",
        starting_cash=100_000.0,
        events=storage.events,
        clock=FixedClock(at(12, 0)),
        calendar=CALENDAR,
        prices=market,
        quotes=quotes,
    )
    order = Order(
        client_order_id="lt-20260105-acct_1-SPY-open",
        account_id="acct_1",
        week_id=date(2026, 1, 5),
        symbol="SPY",
        side=Side.BUY,
        qty=3,
        intent="open",
    )
    with pytest.raises(MarketDataUnavailable, match="bad print"):
        broker.submit(order)
    assert broker.find(order.client_order_id) is None and broker.fills() == []
    # A sane print a minute later is a price again: the order is taken and fills at it.
    latest.set_trade("SPY", round(last_close("SPY") * 1.01, 2), at(12, 1))
    broker._clock = FixedClock(at(12, 2))  # type: ignore[assignment]
    quotes._clock = FixedClock(at(12, 2))
    result = broker.submit(order)
    assert result.status is OrderStatus.FILLED
    assert result.fill_price == pytest.approx(round(last_close("SPY") * 1.01, 2) * 1.0005, rel=1e-4)


def test_a_split_recorded_for_the_day_makes_its_price_a_price(
    storage: Storage, server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    # A 4-for-1's ex-day: the price is a quarter of yesterday's close, and the split is on record.
    split = SplitDetected(
        symbol="SPY", ex_day=DAY, ratio=4.0, looks_like="4-for-1", price=100.0, provider="alpaca", evidence="test"
    )
    storage.events.append([NewEvent.of(split, stream=SPLITS)])
    latest.set_trade("SPY", round(last_close("SPY") / 4 * 1.01, 2), at(11, 59))
    _, quotes = service(storage, server, fallback=False)
    assert quotes.quote("SPY").provider == "alpaca"
    assert refusals(storage) == []


def test_a_far_price_a_second_print_agrees_with_is_a_move_not_a_print(
    storage: Storage, server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    # A real crash: -45% at 11:00, still there at 11:10. One print is refused; the second, agreeing, is a price.
    latest.set_trade("TLT", round(last_close("TLT") * 0.55, 2), at(10, 59))
    _, quotes = service(storage, server, fallback=False, now=at(11, 0))
    with pytest.raises(MarketDataUnavailable):
        quotes.quote("TLT")
    latest.set_trade("TLT", round(last_close("TLT") * 0.56, 2), at(11, 9))
    assert quotes.quote("TLT", at(11, 10)).price == round(last_close("TLT") * 0.56, 2)
    # The same print asked again is not a second print: it confirms nothing.
    latest.set_trade("SPY", round(last_close("SPY") * 0.55, 2), at(11, 9))
    for now in (at(11, 10), at(11, 11)):
        with pytest.raises(MarketDataUnavailable, match="bad print"):
            quotes.quote("SPY", now)


def test_at_a_splits_factor_only_a_recorded_split_makes_a_price_not_a_second_print(
    storage: Storage, server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    # A third of yesterday's close twice: a 3-for-1 no provider has restated yet (every print agrees on an ex-day).
    latest.set_trade("SPY", round(last_close("SPY") / 3, 2), at(10, 59))
    _, quotes = service(storage, server, fallback=False, now=at(11, 0))
    with pytest.raises(MarketDataUnavailable, match="a 3-for-1 split's factor"):
        quotes.quote("SPY")
    latest.set_trade("SPY", round(last_close("SPY") / 3 * 1.002, 2), at(11, 9))
    with pytest.raises(MarketDataUnavailable, match="not a price until the split is recorded"):
        quotes.quote("SPY", at(11, 10))


def test_after_a_bad_daily_close_todays_honest_price_is_still_a_price(
    storage: Storage, server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    _, quotes = service(storage, server, fallback=False)
    # Yesterday's close cached at 2.5x (a bad row not confirmed yet): today's price near the close before it stands.
    cache = BarCache(storage.conn)
    before = CALENDAR.previous_session(DAY)
    bars = SYNTHETIC.daily_bars(["TLT"], before, before)["TLT"]
    bad = bars[0].model_copy(update={"close": bars[0].close * 2.5, "high": bars[0].close * 2.5})
    cache.store({"TLT": [bad]}, before, before, provider="synthetic", synthetic=True)
    earlier = CALENDAR.previous_session(before)
    honest = SYNTHETIC.daily_bars(["TLT"], earlier, earlier)["TLT"][0].close
    latest.set_trade("TLT", round(honest * 1.01, 2), at(11, 59))
    assert quotes.quote("TLT").provider == "alpaca"


def test_a_bad_minute_from_yahoo_is_no_price_either(storage: Storage, server: FakeAlpacaServer, tmp_path: Path) -> None:
    import yfinance

    yfinance.set_tz_cache_location(str(tmp_path / "yf-cache"))
    yfinance.data.YfData.cache_get.cache_clear()
    opens, closes = CALENDAR.session_open(DAY), CALENDAR.session_close(DAY)
    minutes = minute_bars(opens, 149, last_close("SPY"), 0.01)
    minutes.append((at(11, 59), round(last_close("SPY") * 0.4, 2)))  # the last complete minute: one print at 0.4x
    fake = YahooIntraday(bars={"SPY": minutes}, session_open=opens, session_close=closes)
    recording = Recording(storage.events, "r1", splits_before=lambda: splits_before(storage.events))
    market = MarketData([SYNTHETIC], BarCache(storage.conn), CALENDAR, recording)
    market.bars(["SPY"], DAY - timedelta(days=20), CALENDAR.previous_session(DAY))
    providers = [YFinanceQuotes(CALENDAR, session=fake.session()), SyntheticQuotes(SYNTHETIC, CALENDAR)]
    quotes = QuoteService(providers, market, FixedClock(NOON), staleness=timedelta(minutes=15), recording=recording)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas deprecations inside yfinance
        quote = quotes.quote("SPY")
    assert quote.provider == "synthetic"
    [refused] = refusals(storage)
    assert (refused["provider"], refused["reason"]) == ("yfinance", "suspect")
    assert "yfinance bar-close at 12:00" in refused["error"] and "0.40x its last close" in refused["error"]


def test_an_earlier_checkpoints_refused_print_confirms_the_same_move_in_a_later_checkpoint(
    storage: Storage, server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    # Live, each checkpoint is a process of its own: 12:00 refuses TLT at -45%, 14:00 sees it again and takes it.
    def checkpoint(now: datetime) -> QuoteService:
        week = date(2026, 1, 7)
        recording = Recording(
            storage.events,
            f"r{now:%H}",
            week,
            splits_before=lambda: splits_before(storage.events),
            quotes_before=partial(recorded_quotes, storage.events),
        )
        market = MarketData([SYNTHETIC], BarCache(storage.conn), CALENDAR, recording)
        market.bars(["TLT"], DAY - timedelta(days=20), CALENDAR.previous_session(DAY))
        alpaca = AlpacaQuotes(KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=0.5, retry_attempts=1)
        return QuoteService([alpaca], market, FixedClock(now), staleness=timedelta(minutes=15), recording=recording)

    latest.set_trade("TLT", round(last_close("TLT") * 0.55, 2), at(11, 59))
    with pytest.raises(MarketDataUnavailable, match="bad print"):
        checkpoint(NOON).quote("TLT")
    [refused] = refusals(storage)
    assert refused["quote"]["price"] == round(last_close("TLT") * 0.55, 2)
    latest.set_trade("TLT", round(last_close("TLT") * 0.56, 2), at(13, 59))
    assert checkpoint(at(14, 0)).quote("TLT").price == round(last_close("TLT") * 0.56, 2)
