"""YFinanceQuotes through yfinance itself, with Yahoo faked at the HTTP transport (no network).

yfinance's cookie and crumb dance, its chart request and its parsing all run; the answers are
Yahoo-shaped, including the row for the minute still being traded that Yahoo appends in session.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from llmtrade.clock import FixedClock
from llmtrade.errors import MarketDataMissing, MarketDataUnavailable
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.quotes import QuoteService
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.market.synthetic_quotes import SyntheticQuotes
from llmtrade.market.yfinance_quotes import YFinanceQuotes
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.yahoo_transport import YahooIntraday, minute_bars

DAY = date(2026, 1, 7)
CALENDAR = TradingCalendar()
OPEN = datetime.combine(DAY, time(9, 30), tzinfo=NEW_YORK)
CLOSE = datetime.combine(DAY, time(16, 0), tzinfo=NEW_YORK)


@pytest.fixture(autouse=True)
def quiet_yfinance(tmp_path: Path) -> Iterator[None]:
    import yfinance

    # yfinance keeps its cookie and time-zone caches on disk; keep them in the test's folder.
    yfinance.set_tz_cache_location(str(tmp_path / "yf-cache"))
    # ... and answers for past ranges in memory, process-wide: another test's answer must not stand in for this one's.
    yfinance.data.YfData.cache_get.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas deprecations inside yfinance are not ours to fix
        yield


def yahoo(minutes: int, now: datetime) -> YahooIntraday:
    """`minutes` complete 1-minute bars from the open, then the bar in progress at `now`, as Yahoo serves them."""
    bars = minute_bars(OPEN, minutes, 600.0, 0.01)
    in_progress = now.replace(second=0, microsecond=0)
    bars.append((in_progress, 777.0))  # the minute still trading: its close is not known yet
    return YahooIntraday(bars={"SPY": bars}, session_open=OPEN, session_close=CLOSE)


def test_the_last_complete_minute_is_the_price_stamped_at_its_end() -> None:
    now = datetime.combine(DAY, time(12, 0, 30), tzinfo=NEW_YORK)
    fake = yahoo(150, now)  # 09:30 .. 11:59 complete
    quote = YFinanceQuotes(CALENDAR, session=fake.session()).latest(["SPY"], now)["SPY"]
    assert (quote.price, quote.as_of, quote.source) == (601.49, now.replace(second=0), "yfinance bar-close")
    assert quote.as_of <= now
    [chart] = [c for c in fake.charts if c.get("interval") == "1m"]
    assert int(chart["period1"]) == int(OPEN.timestamp())  # from today's open, never earlier
    assert chart["includePrePost"] == "False"


def test_nothing_from_yahoo_is_missing_and_the_next_provider_answers(storage: Storage) -> None:
    now = datetime.combine(DAY, time(12, 0), tzinfo=NEW_YORK)
    fake = YahooIntraday(session_open=OPEN, session_close=CLOSE)  # "No data found", as for an old day
    # Yahoo answered, with nothing: not an outage to wait out, in yfinance's own words.
    with pytest.raises(MarketDataMissing, match=r"yfinance returned no intraday bars for SPY: yfinance said .*No data"):
        YFinanceQuotes(CALENDAR, session=fake.session()).latest(["SPY"], now)
    synthetic = SyntheticMarket({"SPY": "equity"})
    market = MarketData([synthetic], BarCache(storage.conn), CALENDAR, Recording(storage.events, "r1"))
    providers = [YFinanceQuotes(CALENDAR, session=fake.session()), SyntheticQuotes(synthetic, CALENDAR)]
    service = QuoteService(
        providers, market, FixedClock(now), staleness=timedelta(minutes=15), recording=Recording(storage.events, "r1")
    )
    assert service.quote("SPY").provider == "synthetic"
    assert [e.payload["reason"] for e in storage.events.read(type="QuoteRefused")] == ["missing"]


def test_a_rate_limited_yahoo_is_unavailable_not_a_crash() -> None:
    now = datetime.combine(DAY, time(12, 0), tzinfo=NEW_YORK)
    fake = yahoo(150, now)
    fake.status = 429
    with pytest.raises(MarketDataUnavailable, match=r"query2\.finance\.yahoo\.com answered HTTP 429"):
        YFinanceQuotes(CALENDAR, session=fake.session()).latest(["SPY"], now)


@pytest.mark.parametrize("after_open", [timedelta(seconds=5), timedelta(minutes=2)])
def test_nothing_from_yahoo_in_the_sessions_first_minutes_is_a_wait_not_a_symbol_gone(after_open: timedelta) -> None:
    # At 09:30:05 no 1-minute bar has ended, and Yahoo answers "possibly delisted; no price data found": what it says
    # of any symbol with no bar yet. Read as missing, Alpaca down at the same moment made the checkpoint exit 1.
    now = OPEN + after_open
    fake = YahooIntraday(session_open=OPEN, session_close=CLOSE)
    with pytest.raises(MarketDataUnavailable, match=r"no intraday bars for SPY.*first minutes of the session"):
        YFinanceQuotes(CALENDAR, session=fake.session()).latest(["SPY"], now)
    later = OPEN + timedelta(minutes=30)  # half an hour in, nothing is Yahoo having nothing
    with pytest.raises(MarketDataMissing):
        YFinanceQuotes(CALENDAR, session=fake.session()).latest(["SPY"], later)
