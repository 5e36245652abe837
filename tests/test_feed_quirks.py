"""The market-data providers against how Alpaca's Market Data API v2 and Yahoo (through yfinance) really answer: each
quirk made on the wire (the loopback Alpaca server, Yahoo's chart JSON at the transport) and read through the market
service a weekly run and a checkpoint use. No wrong price is taken as good, no missing day is cached, a state Yahoo or
Alpaca mends by itself is waited for (exit 75), and what only a person can mend says what and where."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from llmtrade.errors import MarketDataError, MarketDataUnavailable
from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.snapshot import week_snapshot
from llmtrade.market.yfinance_data import YFinanceProvider
from llmtrade.market.yfinance_quotes import YFinanceQuotes
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.yahoo_transport import YahooIntraday, minute_bars

CALENDAR = TradingCalendar()
SESSIONS = CALENDAR.sessions_between(datetime(2026, 1, 2).date(), datetime(2026, 1, 9).date())
START, END = SESSIONS[0], SESSIONS[-1]
OPENS = [datetime.combine(day, time(9, 30), tzinfo=NEW_YORK) for day in SESSIONS]
AFTER = datetime.combine(END, time(18, 0), tzinfo=NEW_YORK)


@pytest.fixture(autouse=True)
def fresh_yfinance(tmp_path: Path) -> None:
    import yfinance

    yfinance.set_tz_cache_location(str(tmp_path / "yf-cache"))
    yfinance.data.YfData.cache_get.cache_clear()  # answers for past ranges are kept in memory, process-wide


def _yahoo() -> YahooIntraday:
    """Yahoo with SPY's and TLT's daily bars of START..END, stamped at the open as its chart API stamps them."""
    bars = {
        "SPY": [(at, 600.0 + i) for i, at in enumerate(OPENS)],
        "TLT": [(at, 90.0 + i) for i, at in enumerate(OPENS)],
    }
    return YahooIntraday(bars=bars, session_open=OPENS[-1], session_close=OPENS[-1].replace(hour=16))


def _market(storage: Storage, *providers: object) -> MarketData:
    return MarketData(list(providers), BarCache(storage.conn), CALENDAR, Recording(storage.events, "r1"))  # type: ignore[arg-type]


@pytest.mark.parametrize("day", [END, SESSIONS[2]], ids=["last-session", "mid-range"])
def test_a_session_yahoo_lists_with_its_volume_and_no_prices_yet_is_waited_for_not_read_as_ended(
    storage: Storage, day: object
) -> None:
    """Yahoo's chart sometimes lists a session with its volume and null open, high, low and close, and fills them in
    hours or days later (ranaroussi/yfinance#2895, #2930: SPY, QQQ and the indices around 2026-07-28). yfinance keeps
    the row; llmtrade dropped it as padding and read TLT as stale ("update the data ... take it out of the universe",
    exit 1), so the weekly snapshot left TLT out of the week as a symbol whose prices ended. It is a wait: exit 75,
    naming the symbol, the day and why, nothing of TLT cached, SPY's bars kept."""
    fake = _yahoo()
    fake.unpriced = {("TLT", datetime.combine(day, time(9, 30), tzinfo=NEW_YORK))}  # type: ignore[arg-type]
    market = _market(storage, YFinanceProvider(timeout_seconds=2, session=fake.session()))
    with pytest.raises(MarketDataUnavailable) as caught:
        week_snapshot(market, ["SPY", "TLT"], AFTER)
    assert caught.value.exit_code == 75
    assert (
        f"yfinance has no prices yet for TLT on {day}: Yahoo lists the session with its volume but no open, high, low "
        "or close, which it fills in later" in str(caught.value)
    )
    cache = BarCache(storage.conn)
    assert not cache.covers(["TLT"], START, END, synthetic=False)
    assert cache.count(["TLT"], START, END, synthetic=False) == 0
    assert cache.count(["SPY"], START, END, synthetic=False) == len(SESSIONS)


def test_a_share_class_is_asked_of_yahoo_as_yahoo_spells_it_and_read_back_as_ours(storage: Storage) -> None:
    """Alpaca and the packaged candidates write a share class BRK.B; Yahoo writes it BRK-B and answers BRK.B "Not
    Found" (ranaroussi/yfinance#38, #50). With Alpaca down, Yahoo had "no bars for BRK.B" (exit 1, the symbol named as
    unknown) while it had them all along; its latest price was missing likewise. Both are asked as BRK-B now and come
    back under BRK.B."""
    fake = _yahoo()
    fake.bars["BRK-B"] = [(at, 480.0 + i) for i, at in enumerate(OPENS)]
    market = _market(storage, YFinanceProvider(timeout_seconds=2, session=fake.session()))
    series = market.bars(["SPY", "BRK.B"], START, END)
    assert [bar.close for bar in series.bars["BRK.B"]] == [480.0 + i for i in range(len(SESSIONS))]
    assert {bar.symbol for bar in series.bars["BRK.B"]} == {"BRK.B"}
    assert "BRK-B" in fake.charted and "BRK.B" not in fake.charted
    assert BarCache(storage.conn).count(["BRK.B"], START, END, synthetic=False) == len(SESSIONS)

    opens = OPENS[-1]
    now = opens + timedelta(minutes=30, seconds=20)
    intraday = YahooIntraday(
        bars={"BRK-B": minute_bars(opens, 30, 484.0, 0.01)}, session_open=opens, session_close=opens.replace(hour=16)
    )
    quote = YFinanceQuotes(CALENDAR, session=intraday.session()).latest(["BRK.B"], now)["BRK.B"]
    assert (quote.symbol, quote.price) == ("BRK.B", 484.29)


def test_a_row_without_prices_on_a_day_the_nyse_was_closed_is_no_bar_and_nothing_to_wait_for(storage: Storage) -> None:
    """The wait is for a session's prices only: a row Yahoo sends on a holiday (Martin Luther King Day, 2026-01-19)
    with a volume and no prices would be waited for at every wake-up, for ever. It is no bar, as a holiday's null row
    always was (ranaroussi/yfinance#713), and the sessions around it are read and cached."""
    days = CALENDAR.sessions_between(datetime(2026, 1, 12).date(), datetime(2026, 1, 23).date())
    opens = [datetime.combine(day, time(9, 30), tzinfo=NEW_YORK) for day in days]
    holiday = datetime(2026, 1, 19, 9, 30, tzinfo=NEW_YORK)
    assert not CALENDAR.is_session(holiday.date())
    rows = sorted([*((at, 600.0 + i) for i, at in enumerate(opens)), (holiday, 0.0)])
    fake = YahooIntraday(bars={"SPY": rows}, session_open=opens[-1], session_close=opens[-1].replace(hour=16))
    fake.unpriced = {("SPY", holiday)}
    series = _market(storage, YFinanceProvider(timeout_seconds=2, session=fake.session())).bars(
        ["SPY"], days[0], days[-1]
    )
    assert [bar.day for bar in series.bars["SPY"]] == days
    assert BarCache(storage.conn).covers(["SPY"], days[0], days[-1], synthetic=False)


def test_a_sip_refusal_of_a_range_alpacas_own_clock_says_is_old_is_the_feed_setting_to_mend(storage: Storage) -> None:
    """Alpaca answers 403 "subscription does not permit querying recent SIP data" when a sip request reaches into its
    latest 15 minutes (its Market Data FAQ). llmtrade asks 16 minutes back, so it read every such refusal as this
    machine's clock being ahead: a wait (exit 75) and "set the clock (NTP)", at every wake-up for ever, when Alpaca's
    own Date said the range had ended days before: then it is the plan refusing the sip feed, which waiting never
    mends. That is the feed setting to change (exit 2, naming assets.yaml market_data.alpaca_feed and iex), said
    before anything else is asked; a refusal of a range within Alpaca's 15 minutes stays a wait (test_alpaca_data)."""
    from tests.fakes.alpaca_server import FakeAlpacaServer, FakeRequest, FakeResponse

    with FakeAlpacaServer(key_id="k", secret_key="s") as server:

        def no_sip(request: FakeRequest) -> FakeResponse:
            if request.query.get("feed") == "sip":
                return FakeResponse(403, {"message": "subscription does not permit querying recent SIP data"})
            return server._stock_bars(request)

        server.route("GET", r"/v2/stocks/bars", no_sip, first=True)
        alpaca = AlpacaBarProvider(
            "k", "s", feed="sip", url_override=server.base_url, timeout_seconds=2, retry_attempts=0
        )
        with pytest.raises(MarketDataError) as caught:
            _market(storage, alpaca).bars(["SPY"], START, END)
    said = str(caught.value)
    assert caught.value.exit_code == 2 and not isinstance(caught.value, MarketDataUnavailable)
    assert "HTTP 403: subscription does not permit querying recent SIP data" in said
    assert "assets.yaml market_data.alpaca_feed" in said and "iex" in said and "NTP" not in said
    [failed] = [e.payload for e in storage.events.read(type="MarketProviderFailed")]
    assert failed["provider"] == "alpaca" and failed["error_type"] == "FeedNotPermitted"


# ---------------------------------------------------------------- what already held, kept so on the wire


def test_yahoos_live_twin_of_the_last_session_and_its_blank_holiday_row_are_one_bar_and_no_bar(
    storage: Storage,
) -> None:
    """Two of Yahoo's ways, sent as its chart JSON: the last session twice (its 09:30 row and a live one stamped at the
    latest print, ranaroussi/yfinance#573), which yfinance folds into the later; and a row of nulls on a holiday
    (ranaroussi/yfinance#713), which it drops. The later price is the session's, no bar is on the holiday, and the
    range is cached whole."""
    days = CALENDAR.sessions_between(datetime(2026, 1, 12).date(), datetime(2026, 1, 23).date())
    opens = [datetime.combine(day, time(9, 30), tzinfo=NEW_YORK) for day in days]
    holiday = datetime(2026, 1, 19, 9, 30, tzinfo=NEW_YORK)
    live = opens[-1].replace(hour=15, minute=59, second=58)
    rows = sorted([*((at, 600.0 + i) for i, at in enumerate(opens)), (holiday, 0.0), (live, 610.25)])
    fake = YahooIntraday(bars={"SPY": rows}, session_open=opens[-1], session_close=opens[-1].replace(hour=16))
    fake.blank = {("SPY", holiday)}
    series = _market(storage, YFinanceProvider(timeout_seconds=2, session=fake.session())).bars(
        ["SPY"], days[0], days[-1]
    )
    assert [bar.day for bar in series.bars["SPY"]] == days
    assert series.bars["SPY"][-1].close == 610.25
    assert BarCache(storage.conn).covers(["SPY"], days[0], days[-1], synthetic=False)


def test_alpacas_pages_split_inside_a_symbol_with_nanosecond_stamps_and_a_symbol_it_lacks(storage: Storage) -> None:
    """Alpaca's multi-symbol bars, a page at a time (limit 1 here), one symbol's bars continuing on the next page, each
    stamped in RFC 3339 with nanoseconds and a Z, prices as strings, and no key at all for a symbol it has nothing for:
    every bar of the two it has, in order, and the third named as what no provider could supply (exit 1)."""
    from tests.fakes.alpaca_server import FakeAlpacaServer

    with FakeAlpacaServer(key_id="k", secret_key="s", page_size=1) as server:
        for symbol, base in (("SPY", 600.0), ("TLT", 90.0)):
            server.add_bars(
                symbol,
                [
                    {
                        "t": f"{datetime.combine(day, time(0), tzinfo=NEW_YORK).astimezone(UTC):%Y-%m-%dT%H:%M:%S}"
                        ".123456789Z",
                        **{k: str(base + i) for k in ("o", "h", "l", "c")},
                        "v": 1000,
                    }
                    for i, day in enumerate(SESSIONS)
                ],
            )
        alpaca = AlpacaBarProvider("k", "s", url_override=server.base_url, timeout_seconds=2, retry_attempts=0)
        with pytest.raises(MarketDataError) as caught:
            _market(storage, alpaca).bars(["TLT", "GONE", "SPY"], START, END)
        assert caught.value.exit_code == 1 and caught.value.short == ("GONE",)
        series = _market(storage, alpaca).bars(["TLT", "SPY"], START, END)
    assert {s: [(b.day, b.close) for b in bars] for s, bars in series.bars.items()} == {
        "TLT": [(day, 90.0 + i) for i, day in enumerate(SESSIONS)],
        "SPY": [(day, 600.0 + i) for i, day in enumerate(SESSIONS)],
    }
