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
