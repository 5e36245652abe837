"""Every way a market data provider fails is temporary (exit 75: not reached, timed out, 429, 5xx, a page where
JSON belongs) or operational (exit 1: a refused key, a symbol it does not know, a hole), and the failure of them
all follows one rule (market/failures.py). The providers meet their failures through their real clients: yfinance
runs whole over a session whose transport answers or fails as Yahoo's would, alpaca-py meets a refused port.

yfinance's way, from its 1.7 source: `download` catches every failure, logs it to the `yfinance` logger and returns
an empty frame, often saying "possibly delisted; no timezone found" whatever the cause (ranaroussi/yfinance#2329,
#1996)."""

from __future__ import annotations

import re
import socket
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
import requests

from llmtrade.clock import FixedClock
from llmtrade.domain.market import Bar
from llmtrade.errors import (
    MarketDataError,
    MarketDataMissing,
    MarketDataUnavailable,
    MarketProviderUnset,
)
from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.alpaca_quotes import AlpacaQuotes
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.failures import few, none_left, wire_reason
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.unavailable import UnavailableProvider
from llmtrade.market.validation import BarProblem, ProblemKind, SeriesRejected
from llmtrade.market.yfinance_data import YFinanceProvider
from llmtrade.market.yfinance_quotes import YFinanceQuotes
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.yahoo_transport import YahooIntraday

START, END = date(2026, 1, 2), date(2026, 1, 9)
CALENDAR = TradingCalendar()
NOON = datetime.combine(date(2026, 1, 7), time(12, 0), tzinfo=NEW_YORK)
# What yfinance 1.7 raised on the new-user trial's machine without network (curl_cffi's DNSError, code 6).
CURL_NO_DNS = (
    "Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com. "
    "See https://curl.se/libcurl/c/libcurl-errors.html first for more details."
)


def closed_port() -> int:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener now
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(autouse=True)
def fresh_yfinance(tmp_path: Path) -> None:
    import yfinance

    yfinance.set_tz_cache_location(str(tmp_path / "yf-cache"))
    yfinance.data.YfData.cache_get.cache_clear()  # answers for past ranges are kept in memory, process-wide


# ---------------------------------------------------------------- the rule


def _hole() -> SeriesRejected:
    return SeriesRejected([BarProblem(symbol="SPY", kind=ProblemKind.MISSING_SESSION, days=[END], reason="a hole")])


@pytest.mark.parametrize(
    ("errors", "code"),
    [
        ([MarketDataUnavailable("down")], 75),
        ([MarketProviderUnset("no keys"), MarketDataUnavailable("down")], 75),  # the new-user trial's case
        ([MarketDataUnavailable("down"), MarketDataUnavailable("timed out")], 75),
        ([MarketProviderUnset("no keys")], 1),  # nothing was asked: waiting sets no keys
        ([MarketDataUnavailable("down"), _hole()], 1),  # an answer refused is to look at now
        ([MarketDataUnavailable("down"), MarketDataMissing("unknown symbol")], 1),
        ([], 1),
    ],
    ids=["down", "no-keys+down", "all-down", "no-keys", "down+hole", "down+unknown", "nothing"],
)
def test_no_provider_left_is_temporary_only_when_one_was_unreachable_and_none_answered_wrongly(
    errors: list[Exception], code: int
) -> None:
    error = none_left("no provider", errors)
    assert error.exit_code == code
    assert isinstance(error, MarketDataUnavailable) == (code == 75) and str(error) == "no provider"


def test_a_failure_on_the_wire_is_said_in_its_own_short_words() -> None:
    from curl_cffi.requests.exceptions import DNSError

    assert wire_reason(DNSError(CURL_NO_DNS)) == "Could not resolve host: query2.finance.yahoo.com"
    with pytest.raises(requests.ConnectionError) as refused:  # requests -> urllib3 -> the socket, for real
        requests.get(f"http://127.0.0.1:{closed_port()}/v2/stocks/bars", timeout=2)
    assert wire_reason(refused.value) == "connection refused"
    try:
        raise requests.ConnectionError("max retries") from socket.gaierror(-2, "Name or service not known")
    except requests.ConnectionError as exc:
        assert wire_reason(exc) == "name lookup failed: Name or service not known"
    assert few(["A", "B", "C"]) == "A, B, C"
    many = [f"S{i}" for i in range(300)]
    assert few(many) == "300 symbols (S0, S1, S2, S3, S4 and 295 more)"


# ---------------------------------------------------------------- yfinance, whole, on a faked wire


def test_yahoo_refusing_the_connection_is_temporary_naming_the_host_and_yfinance_prints_nothing(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    yahoo = YahooIntraday(unreachable_port=closed_port())
    with pytest.raises(MarketDataUnavailable) as caught:
        YFinanceProvider(timeout_seconds=2, session=yahoo.session()).daily_bars(["SPY", "TLT"], START, END)
    assert str(caught.value) == "yfinance returned no bars: query2.finance.yahoo.com: connection refused"
    with pytest.raises(
        MarketDataUnavailable, match=r"yfinance returned no intraday bars for SPY: .*connection refused"
    ):
        YFinanceQuotes(CALENDAR, timeout_seconds=2, session=yahoo.session()).latest(["SPY"], NOON)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # yfinance logged some dozen lines; none reached the terminal
    # ... nor any handler above its logger (pytest's own, here; Python's last-resort stderr under cron).
    assert [r.getMessage() for r in caplog.records if r.name.startswith("yfinance")] == []


@pytest.mark.parametrize(
    ("status", "page", "said"),
    [
        (503, None, "query2.finance.yahoo.com answered HTTP 503"),
        (429, None, "query2.finance.yahoo.com answered HTTP 429"),
        (
            None,
            "<html><body>Will be right back...</body></html>",
            "query2.finance.yahoo.com answered a page that is not JSON (HTTP 200)",
        ),
    ],
    ids=["503", "429", "maintenance page"],
)
def test_yahoo_struggling_is_temporary(status: int | None, page: str | None, said: str) -> None:
    yahoo = YahooIntraday(status=status, page=page)
    with pytest.raises(MarketDataUnavailable, match=re.escape(f"yfinance returned no bars: {said}")):
        YFinanceProvider(timeout_seconds=2, session=yahoo.session()).daily_bars(["SPY"], START, END)


@pytest.mark.parametrize(
    ("status", "page"), [(503, None), (None, "<html><body>Will be right back...</body></html>")], ids=["503", "page"]
)
def test_yahoo_back_after_an_outage_is_asked_again_not_answered_from_yfinances_memory(
    status: int | None, page: str | None
) -> None:
    """yfinance keeps every chart answer for a range that ended over 30 minutes ago in a process-wide lru_cache,
    a 5xx or a maintenance page too. The same range asked again in the process (the weekly run after discovery,
    a checkpoint after the run) got the outage back without a request, read as Yahoo having nothing: "possibly
    delisted", permanent (exit 1), for as long as the process lived."""
    days = [date(2026, 1, d) for d in (2, 5, 6, 7, 8, 9)]
    opens = [datetime.combine(day, time(9, 30), tzinfo=NEW_YORK) for day in days]
    yahoo = YahooIntraday(
        bars={"SPY": [(at, 600.0 + i) for i, at in enumerate(opens)]},
        session_open=opens[-1],
        session_close=opens[-1].replace(hour=16, minute=0),
        status=status,
        page=page,
    )
    provider = YFinanceProvider(timeout_seconds=2, session=yahoo.session())
    with pytest.raises(MarketDataUnavailable):
        provider.daily_bars(["SPY"], START, END)
    yahoo.status, yahoo.page = None, None  # Yahoo is back
    bars = provider.daily_bars(["SPY"], START, END)["SPY"]
    assert [(bar.day, bar.close) for bar in bars] == [(day, 600.0 + i) for i, day in enumerate(days)]


def test_yahoo_answering_not_found_is_missing_in_yfinances_words(capfd: pytest.CaptureFixture[str]) -> None:
    """Yahoo's chart API answers an unknown symbol with {"chart": {"error": {"code": "Not Found", ...}}}: it was
    heard, and it will say the same next time."""
    with pytest.raises(MarketDataMissing) as caught:
        YFinanceProvider(timeout_seconds=2, session=YahooIntraday().session()).daily_bars(["NOPE"], START, END)
    assert not isinstance(caught.value, MarketDataUnavailable) and caught.value.exit_code == 1
    # yfinance's own words: its chart error ("$NOPE: possibly delisted ..."), or, in a process whose yfinance has not
    # looked the symbol up before, the quoteSummary 404 it asks next (the test ran alone failed on the first).
    said = str(caught.value)
    assert said.startswith("yfinance returned no bars: yfinance said ") and "NOPE" in said, said
    assert capfd.readouterr().err == ""


# ---------------------------------------------------------------- through the service: events and the last error


def _service(storage: Storage, *providers: object) -> MarketData:
    return MarketData(list(providers), BarCache(storage.conn), CALENDAR, Recording(storage.events, "r1"))  # type: ignore[arg-type]


def test_every_provider_unreachable_is_temporary_on_record(storage: Storage) -> None:
    port = closed_port()
    alpaca = AlpacaBarProvider("k", "s", url_override=f"http://127.0.0.1:{port}", timeout_seconds=1)
    yahoo = YFinanceProvider(timeout_seconds=2, session=YahooIntraday(unreachable_port=port).session())
    with pytest.raises(MarketDataUnavailable) as caught:
        _service(storage, alpaca, yahoo).bars(["SPY", "TLT"], START, END)
    message = str(caught.value)
    assert "\n" not in message and caught.value.exit_code == 75
    assert f"alpaca: could not reach alpaca market data (http://127.0.0.1:{port}): connection refused" in message
    assert "yfinance: yfinance returned no bars: query2.finance.yahoo.com: connection refused" in message
    failed = [e.payload for e in storage.events.read(type="MarketProviderFailed")]
    assert [(f["provider"], f["error_type"]) for f in failed] == [
        ("alpaca", "MarketDataUnavailable"),
        ("yfinance", "MarketDataUnavailable"),
    ]


def test_no_keys_and_yahoo_unreachable_is_temporary_but_no_keys_alone_is_not(storage: Storage) -> None:
    yahoo = YFinanceProvider(timeout_seconds=2, session=YahooIntraday(unreachable_port=closed_port()).session())
    with pytest.raises(
        MarketDataUnavailable, match=r"alpaca is not available: no keys; yfinance: .*connection refused"
    ):
        _service(storage, UnavailableProvider("alpaca", "no keys"), yahoo).bars(["SPY"], START, END)
    with pytest.raises(MarketDataError, match="alpaca is not available: no keys") as caught:
        _service(storage, UnavailableProvider("alpaca", "no keys")).bars(["SPY"], START, END)
    assert caught.value.exit_code == 1


def test_a_refused_key_stops_at_once_on_record(storage: Storage) -> None:
    from tests.fakes.alpaca_server import FakeAlpacaServer

    with FakeAlpacaServer(key_id="right", secret_key="right") as server:
        alpaca = AlpacaBarProvider("wrong", "wrong", url_override=server.base_url, timeout_seconds=2, retry_attempts=0)
        with pytest.raises(MarketDataError, match="check the keys") as caught:
            _service(storage, alpaca, UnavailableProvider("yfinance", "never asked")).bars(["SPY"], START, END)
    assert caught.value.exit_code == 1
    [failed] = [e.payload for e in storage.events.read(type="MarketProviderFailed")]
    assert (failed["provider"], failed["error_type"]) == ("alpaca", "MarketDataError")


# ---------------------------------------------------------------- quotes


def test_quotes_with_every_provider_unreachable_are_temporary_and_alpacas_reason_is_one_short_line(
    storage: Storage,
) -> None:
    from llmtrade.clock import FixedClock
    from llmtrade.market.quotes import QuoteService

    port = closed_port()
    alpaca = AlpacaQuotes("k", "s", url_override=f"http://127.0.0.1:{port}", timeout_seconds=1)
    yahoo = YFinanceQuotes(CALENDAR, timeout_seconds=2, session=YahooIntraday(unreachable_port=port).session())
    market = _service(storage, UnavailableProvider("alpaca", "daily bars are not asked here"))
    service = QuoteService(
        [alpaca, yahoo], market, FixedClock(NOON), staleness=timedelta(minutes=15), recording=Recording(storage.events)
    )
    with pytest.raises(MarketDataUnavailable) as caught:
        service.quote("SPY")
    assert f"alpaca: could not reach alpaca latest prices (http://127.0.0.1:{port}): connection refused" in str(
        caught.value
    )
    assert "HTTPConnectionPool" not in str(caught.value)  # urllib3's nested reprs stay out of the line
    assert [e.payload["reason"] for e in storage.events.read(type="QuoteRefused")] == ["unavailable", "unavailable"]


# ---------------------------------------------------------------- one symbol of a batch with no bars
#
# yfinance.download of several tickers fetches each on its own; one with nothing in the range (listed after it,
# delisted, not traded yet) is logged ("$NEWCO: possibly delisted; no price data found (1d ...)", then
# "1 Failed download:" and "['NEWCO']: ...") and left as an all-NaN column beside the others (ranaroussi/yfinance#183,
# #359, #2506). Alpaca's bars answer simply has no key for a symbol without bars.

SESSIONS = CALENDAR.sessions_between(START, END)
OPENS = [datetime.combine(day, time(9, 30), tzinfo=NEW_YORK) for day in SESSIONS]


def _yahoo(*, without: date | None = None, **kwargs: object) -> YahooIntraday:
    """Yahoo with SPY's and TLT's daily bars of START..END (TLT's lacking `without`), stamped at the open."""
    bars = {
        "SPY": [(at, 600.0 + i) for i, at in enumerate(OPENS)],
        "TLT": [(at, 90.0 + i) for i, at in enumerate(OPENS) if at.date() != without],
    }
    return YahooIntraday(bars=bars, session_open=OPENS[-1], session_close=OPENS[-1].replace(hour=16), **kwargs)  # type: ignore[arg-type]


def _daily(symbol: str, first: float) -> list[Bar]:
    return [
        Bar(
            symbol=symbol,
            day=day,
            open=first + i,
            high=first + i + 1,
            low=first + i - 1,
            close=first + i,
            volume=1e5,
            source="feed",
        )
        for i, day in enumerate(SESSIONS)
    ]


def _failed(storage: Storage) -> list[dict]:
    return [e.payload for e in storage.events.read(type="MarketProviderFailed")]


def test_a_symbol_yahoo_has_no_bars_for_is_asked_of_the_next_provider_alone_and_the_others_are_kept(
    storage: Storage,
) -> None:
    from tests.fakes.alpaca_server import FakeAlpacaServer

    yahoo = YFinanceProvider(timeout_seconds=2, session=_yahoo(listed={"NEWCO"}).session())
    with FakeAlpacaServer(key_id="k", secret_key="s") as server:
        server.add_bars("NEWCO", _daily("NEWCO", 20.0))
        alpaca = AlpacaBarProvider("k", "s", url_override=server.base_url, timeout_seconds=2, retry_attempts=0)
        series = _service(storage, yahoo, alpaca).bars(["SPY", "NEWCO", "TLT"], START, END)
    assert [r.query["symbols"] for r in server.requests if r.path == "/v2/stocks/bars"] == ["NEWCO"]
    assert series.provider == "yfinance,alpaca" and list(series.bars) == ["SPY", "NEWCO", "TLT"]
    assert {s: {b.source for b in bars} for s, bars in series.bars.items()} == {
        "SPY": {"yfinance"},
        "NEWCO": {"alpaca"},
        "TLT": {"yfinance"},
    }
    assert all([b.day for b in bars] == SESSIONS for bars in series.bars.values())
    [failed] = _failed(storage)
    assert (failed["provider"], failed["symbols"]) == ("yfinance", ["NEWCO"])
    assert "NEWCO" in failed["error"] and "possibly delisted; no price data found" in failed["error"]
    assert "SPY" not in failed["error"] and "TLT" not in failed["error"]
    fetched = [e.payload for e in storage.events.read(type="MarketDataFetched")]
    assert [(f["provider"], f["symbols"]) for f in fetched] == [("yfinance", ["SPY", "TLT"]), ("alpaca", ["NEWCO"])]
    # Every symbol is cached, from whichever provider supplied it: the next read asks nobody.
    again = _service(storage, UnavailableProvider("yfinance", "not asked")).bars(["SPY", "NEWCO", "TLT"], START, END)
    assert again.from_cache and again.bars == series.bars


@pytest.mark.parametrize(
    ("yahoo", "said"),
    [
        ({"listed": {"NEWCO"}}, "['NEWCO']: possibly delisted; no price data found (1d 2026-01-02 -> 2026-01-10)"),
        ({}, "['NEWCO']: No data found"),  # a symbol Yahoo does not know: its chart answers "Not Found"
    ],
    ids=["listed-no-bars", "unknown"],
)
def test_a_symbol_no_provider_has_is_the_only_one_named_in_yfinances_words_and_the_others_are_cached(
    storage: Storage, yahoo: dict, said: str
) -> None:
    provider = YFinanceProvider(timeout_seconds=2, session=_yahoo(**yahoo).session())
    with pytest.raises(MarketDataMissing) as partial:
        provider.daily_bars(["SPY", "NEWCO", "TLT"], START, END)
    assert partial.value.symbols == ("NEWCO",) and sorted(partial.value.answered) == ["SPY", "TLT"]
    with pytest.raises(MarketDataError) as caught:
        _service(storage, provider).bars(["SPY", "NEWCO", "TLT"], START, END)
    assert caught.value.exit_code == 1 and not isinstance(caught.value, MarketDataUnavailable)
    assert str(caught.value) == (
        f"yfinance: yfinance returned no bars for NEWCO: yfinance said {said!r} "
        f"(so no market data provider could supply NEWCO (of the 3 asked) for {START}..{END})"
    )
    cache = BarCache(storage.conn)
    assert cache.covers(["SPY", "TLT"], START, END, synthetic=False)
    assert cache.count(["SPY", "TLT"], START, END, synthetic=False) == 2 * len(SESSIONS)
    assert not cache.covers(["NEWCO"], START, END, synthetic=False)


def test_yahoo_throttling_one_symbol_of_a_batch_is_temporary_for_that_symbol_alone(storage: Storage) -> None:
    provider = YFinanceProvider(timeout_seconds=2, session=_yahoo(status_of={"NEWCO": 429}).session())
    with pytest.raises(MarketDataUnavailable) as caught:
        _service(storage, provider).bars(["SPY", "NEWCO", "TLT"], START, END)
    assert caught.value.exit_code == 75
    assert str(caught.value).startswith(
        "yfinance: yfinance returned no bars for NEWCO: query2.finance.yahoo.com answered HTTP 429 "
        "(so no market data provider could supply NEWCO (of the 3 asked)"
    )
    assert BarCache(storage.conn).covers(["SPY", "TLT"], START, END, synthetic=False)


def test_a_batch_with_an_empty_symbol_and_a_missing_day_caches_nothing(storage: Storage) -> None:
    """The symbols that came back are kept only when valid: one with a hole rejects the answer, as ever (a missing
    trading day is never cached), and both it and the empty one are named."""
    hole = SESSIONS[2]
    provider = YFinanceProvider(timeout_seconds=2, session=_yahoo(without=hole, listed={"NEWCO"}).session())
    with pytest.raises(MarketDataError) as caught:
        _service(storage, provider).bars(["SPY", "NEWCO", "TLT"], START, END)
    message = str(caught.value)
    # Old by the real clock: Yahoo is not filling it (market/yfinance_data.py FILLS_WITHIN), the data's error.
    assert f"TLT: yfinance has no row on {hole}, NYSE session(s) between rows it sent" in message
    assert "yfinance returned no bars for NEWCO" in message
    assert "could supply NEWCO, TLT (of the 3 asked)" in message
    cache = BarCache(storage.conn)
    assert cache.count(["SPY", "NEWCO", "TLT"], START, END, synthetic=False) == 0
    assert not cache.covers(["SPY"], START, END, synthetic=False)


@pytest.mark.parametrize(("hhmm", "complete"), [("16:05", False), ("16:19", False), ("16:20", True)])
def test_yahoos_bar_of_a_session_is_taken_and_cached_only_a_while_after_its_close(
    storage: Storage, hhmm: str, complete: bool
) -> None:
    """Yahoo's daily bar of the day is live until a while after the close (its closing prints come in later): read
    at 16:05, it was returned and cached as the complete session's. Now it is taken from 20 minutes after the close;
    before, Yahoo is not asked and the read is temporary (exit 75), with nothing cached."""
    now = datetime.combine(END, time.fromisoformat(hhmm), tzinfo=NEW_YORK)
    fake = _yahoo()
    provider = YFinanceProvider(timeout_seconds=2, session=fake.session(), clock=FixedClock(now), wall=now.timestamp)
    cache = BarCache(storage.conn)
    if complete:
        series = _service(storage, provider).bars_asof(["SPY", "TLT"], now, sessions=5)
        assert all(bars[-1].day == END for bars in series.bars.values())
        assert cache.count(["SPY", "TLT"], END, END, synthetic=False) == 2
        return
    with pytest.raises(MarketDataUnavailable) as caught:
        _service(storage, provider).bars_asof(["SPY", "TLT"], now, sessions=5)
    assert caught.value.exit_code == 75
    assert str(caught.value).startswith(
        f"yfinance: yfinance has no complete bar of {END} yet: Yahoo's daily bar is live until a while after the "
        f"close; taken from {END} 16:20 New York"
    )
    assert fake.charted == [] and cache.count(["SPY", "TLT"], START, END, synthetic=False) == 0


def test_llmtrade_now_just_after_a_past_sessions_close_takes_the_bar_the_real_world_has_final(storage: Storage) -> None:
    """LLMTRADE_NOW on a past session at 16:05: its bar was judged against that clock, never 20 minutes past the close,
    so every run exited 75 for good, though Yahoo's bar of it had long been final. Now completion is the real clock's:
    taken and cached; and nothing after the command's now is taken: at 15:00 that session is not asked of Yahoo."""
    after = datetime.combine(END, time(16, 5), tzinfo=NEW_YORK)
    real = (after + timedelta(days=30)).timestamp
    fake = _yahoo()
    provider = YFinanceProvider(timeout_seconds=2, session=fake.session(), clock=FixedClock(after), wall=real)
    series = _service(storage, provider).bars_asof(["SPY", "TLT"], after, sessions=5)
    assert all(bars[-1].day == END for bars in series.bars.values())
    assert BarCache(storage.conn).count(["SPY", "TLT"], END, END, synthetic=False) == 2
    during = datetime.combine(END, time(15, 0), tzinfo=NEW_YORK)
    early = YFinanceProvider(timeout_seconds=2, session=fake.session(), clock=FixedClock(during), wall=real)
    assert early.incomplete(datetime.combine(END, time(16, 0), tzinfo=NEW_YORK)) == (
        f"the command's clock is {END} 15:00 New York, before the close"
    )


def test_a_symbol_alpaca_has_no_bars_for_is_asked_of_yahoo_alone(storage: Storage) -> None:
    """The same for every provider: Alpaca's answer without NEWCO costs only NEWCO, and Yahoo is asked for it."""
    from tests.fakes.alpaca_server import FakeAlpacaServer

    fake = _yahoo()
    fake.bars["NEWCO"] = [(at, 20.0 + i) for i, at in enumerate(OPENS)]
    yahoo = YFinanceProvider(timeout_seconds=2, session=fake.session())
    with FakeAlpacaServer(key_id="k", secret_key="s") as server:
        server.add_bars("SPY", _daily("SPY", 600.0))
        server.add_bars("TLT", _daily("TLT", 90.0))
        alpaca = AlpacaBarProvider("k", "s", url_override=server.base_url, timeout_seconds=2, retry_attempts=0)
        series = _service(storage, alpaca, yahoo).bars(["SPY", "NEWCO", "TLT"], START, END)
    assert set(fake.charted) == {"NEWCO"}
    assert series.provider == "alpaca,yfinance"
    assert [b.close for b in series.bars["NEWCO"]] == [20.0 + i for i in range(len(SESSIONS))]
    [failed] = _failed(storage)
    assert (failed["provider"], failed["symbols"]) == ("alpaca", ["NEWCO"])
