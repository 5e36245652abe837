"""AlpacaBarProvider through the real alpaca-py client, against a fake Alpaca server on loopback.

Nothing of alpaca-py is mocked: what is tested is the request it really sends (query, headers,
pagination), the JSON it really parses and the exceptions it really raises, translated into ours.
Timeouts and retry waits are tiny so the failure drills stay fast.
"""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from llmtrade.app.container import Container
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.market import Bar
from llmtrade.errors import MarketDataError, MarketDataUnavailable
from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.alpaca_http import DataAccess, within_deadline
from llmtrade.market.alpaca_limits import RateLimitWaits
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.market.providers import build_providers
from llmtrade.market.service import MarketData, Recording
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import NEW_YORK, FakeAlpacaServer, FakeRequest, FakeResponse, Wall
from tests.support import FIXED_NOW

KEY_ID = "test-key-id"
SECRET = "test-secret"
RETRIES = 2  # alpaca-py's retry loop: RETRIES + 1 attempts in all
PAGE_SIZE = 4  # small, so a couple of weeks of two symbols spans several pages

# January 2026 sessions (Monday 5th to Friday 16th), stamped as Alpaca stamps daily bars in winter.
WINTER_DAYS = [date(2026, 1, d) for d in (5, 6, 7, 8, 9, 12, 13, 14, 15, 16)]


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, page_size=PAGE_SIZE) as fake:
        yield fake


def provider_for(server: FakeAlpacaServer, *, secret: str = SECRET, timeout: float = 0.3) -> AlpacaBarProvider:
    return AlpacaBarProvider(
        KEY_ID,
        secret,
        url_override=server.base_url,
        timeout_seconds=timeout,
        retry_attempts=RETRIES,
        retry_wait_seconds=0.01,
    )


def row(day: date, close: float, *, as_strings: bool = False) -> dict[str, object]:
    """An Alpaca daily bar for `day` (stamped 05:00Z, New York midnight in winter) closing at `close`."""
    prices = {"o": close - 1, "h": close + 2, "l": close - 2, "c": close}
    if as_strings:  # some Alpaca endpoints send money as strings; the provider must read both
        prices = {name: f"{value:.2f}" for name, value in prices.items()}
    return {"t": f"{day.isoformat()}T05:00:00Z", **prices, "v": 1_000_000, "n": 5000, "vw": close}


def bar_requests(server: FakeAlpacaServer) -> list[dict[str, str]]:
    return [request.query for request in server.requests if request.path == "/v2/stocks/bars"]


def load_two_symbols(server: FakeAlpacaServer) -> None:
    # Loaded newest first, to show the ascending order comes from the provider, not from loading order.
    server.add_bars("SPY", [row(day, 600 + i) for i, day in reversed(list(enumerate(WINTER_DAYS)))])
    server.add_bars("QQQ", [row(day, 500 + i, as_strings=True) for i, day in enumerate(WINTER_DAYS)])


def test_two_symbols_over_several_pages_come_back_complete_sorted_and_converted(server: FakeAlpacaServer) -> None:
    load_two_symbols(server)

    bars = provider_for(server).daily_bars(["SPY", "QQQ"], date(2026, 1, 5), date(2026, 1, 16))

    assert len(bar_requests(server)) == 5  # 20 bars, 4 a page: every page token was followed
    assert bar_requests(server)[0].get("page_token") is None
    assert all(query.get("page_token") for query in bar_requests(server)[1:])
    assert set(bars) == {"SPY", "QQQ"}
    assert [bar.day for bar in bars["SPY"]] == WINTER_DAYS
    assert [bar.day for bar in bars["QQQ"]] == WINTER_DAYS
    assert bars["SPY"][0] == Bar(
        symbol="SPY",
        day=date(2026, 1, 5),
        open=599,
        high=602,
        low=598,
        close=600,
        volume=1_000_000,
        source="alpaca",
        synthetic=False,
    )
    assert [bar.close for bar in bars["SPY"]] == [600 + i for i in range(10)]
    assert [bar.close for bar in bars["QQQ"]] == [500 + i for i in range(10)]  # sent as strings
    assert all(bar.source == "alpaca" and not bar.synthetic for bar in bars["SPY"] + bars["QQQ"])


def test_day_is_the_new_york_session_date_of_the_timestamp(server: FakeAlpacaServer) -> None:
    server.add_bars(
        "SPY",
        [
            {**row(date(2026, 1, 5), 600), "t": "2026-01-05T05:00:00Z"},  # winter: New York midnight is 05:00Z
            {**row(date(2026, 7, 6), 610), "t": "2026-07-06T04:00:00Z"},  # summer: 04:00Z
            # 21:00 on the 7th in New York is already the 8th in UTC: the session is still the 7th.
            {**row(date(2026, 7, 7), 620), "t": "2026-07-08T01:00:00Z"},
        ],
    )

    # Asked apart: the sessions between January and July have no bar here, which the provider says (market/untraded.py).
    winter = provider_for(server).daily_bars(["SPY"], date(2026, 1, 1), date(2026, 1, 31))
    summer = provider_for(server).daily_bars(["SPY"], date(2026, 7, 1), date(2026, 7, 31))

    assert [(bar.day, bar.close) for bar in winter["SPY"] + summer["SPY"]] == [
        (date(2026, 1, 5), 600),
        (date(2026, 7, 6), 610),
        (date(2026, 7, 7), 620),
    ]


def test_date_range_is_honoured_inclusively(server: FakeAlpacaServer) -> None:
    load_two_symbols(server)

    bars = provider_for(server).daily_bars(["SPY", "QQQ"], date(2026, 1, 7), date(2026, 1, 13))

    expected = [date(2026, 1, 7), date(2026, 1, 8), date(2026, 1, 9), date(2026, 1, 12), date(2026, 1, 13)]
    assert [bar.day for bar in bars["SPY"]] == expected
    assert [bar.day for bar in bars["QQQ"]] == expected


def test_symbol_without_bars_maps_to_an_empty_list(server: FakeAlpacaServer) -> None:
    load_two_symbols(server)

    bars = provider_for(server).daily_bars(["SPY", "GLD"], date(2026, 1, 5), date(2026, 1, 6))

    assert [bar.day for bar in bars["SPY"]] == [date(2026, 1, 5), date(2026, 1, 6)]
    assert bars["GLD"] == []


def test_feed_iex_split_adjustment_and_the_daily_timeframe_are_sent_in_the_query(server: FakeAlpacaServer) -> None:
    load_two_symbols(server)

    provider_for(server).daily_bars(["SPY", "QQQ"], date(2026, 1, 5), date(2026, 1, 16))

    queries = bar_requests(server)
    assert queries
    assert all(query["feed"] == "iex" for query in queries)
    assert all(query["timeframe"] == "1Day" for query in queries)
    assert all(query["adjustment"] == "split" for query in queries)
    assert all(query["symbols"] == "SPY,QQQ" for query in queries)


def test_wrong_keys_raise_market_data_error(server: FakeAlpacaServer) -> None:
    load_two_symbols(server)

    with pytest.raises(MarketDataError, match="alpaca refused the market data request: check the keys") as caught:
        provider_for(server, secret="not-the-secret").daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 16))

    assert "HTTP 401" in str(caught.value)
    assert "not-the-secret" not in str(caught.value)
    assert len(server.requests) == 1  # a refused key is not retried
    assert server.requests[0].headers["APCA-API-KEY-ID"] == KEY_ID


@pytest.mark.parametrize("status", [429, 500, 503])
def test_server_error_repeated_past_alpaca_py_retries_raises_unavailable(server: FakeAlpacaServer, status: int) -> None:
    load_two_symbols(server)
    server.fail_next(status, times=RETRIES + 1)

    with pytest.raises(MarketDataUnavailable, match=rf"alpaca .*HTTP {status}"):
        provider_for(server).daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 16))

    assert len(server.requests) == RETRIES + 1


def test_server_error_within_alpaca_py_retries_still_returns_bars(server: FakeAlpacaServer) -> None:
    load_two_symbols(server)
    server.fail_next(500, times=RETRIES)

    bars = provider_for(server).daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 9))

    assert [bar.day for bar in bars["SPY"]] == WINTER_DAYS[:5]


def test_answer_slower_than_the_timeout_raises_unavailable(server: FakeAlpacaServer) -> None:
    load_two_symbols(server)
    server.delay_next(1.5)

    with pytest.raises(MarketDataUnavailable, match=r"alpaca market data .* did not answer within 0.3s"):
        provider_for(server, timeout=0.3).daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 16))


def test_unreachable_server_raises_unavailable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = AlpacaBarProvider(KEY_ID, SECRET, url_override=f"http://127.0.0.1:{port}", timeout_seconds=0.3)

    with pytest.raises(MarketDataUnavailable, match="could not reach alpaca market data"):
        provider.daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 16))


def test_invalid_bar_raises_market_data_error_naming_symbol_and_timestamp(server: FakeAlpacaServer) -> None:
    server.add_bars("SPY", [row(date(2026, 1, 5), 600), {**row(date(2026, 1, 6), 601), "l": 700}])

    with pytest.raises(MarketDataError, match=r"SPY at '2026-01-06T05:00:00Z'.*inconsistent bar"):
        provider_for(server).daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 16))


def test_unknown_feed_raises_market_data_error_before_any_request(server: FakeAlpacaServer) -> None:
    provider = AlpacaBarProvider(KEY_ID, SECRET, feed="nasdaq", url_override=server.base_url)

    with pytest.raises(MarketDataError, match="unknown alpaca data feed 'nasdaq'"):
        provider.daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 16))

    assert server.requests == []


def test_importing_the_provider_does_not_import_alpaca_py() -> None:
    code = (
        "import sys, llmtrade.market.alpaca_data; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alpaca', 'requests')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


def test_bars_null_for_symbols_with_no_data_is_no_bars_not_a_crash(server: FakeAlpacaServer) -> None:
    """Alpaca answers `"bars": null` (not `{}`) when none of the symbols has a bar in the window (a delisted or
    not yet listed symbol: alpacahq/alpaca-trade-api-python#478); alpaca-py then fails inside its own parser with
    an AttributeError that escaped as a traceback. It is an answer of nothing, which the service reports as
    missing and passes to the next provider."""
    server.route(
        "GET", r"/v2/stocks/bars", lambda _: FakeResponse(200, {"bars": None, "next_page_token": None}), first=True
    )

    bars = provider_for(server).daily_bars(["GLTA", "SPY"], date(2026, 1, 5), date(2026, 1, 16))

    assert bars == {"GLTA": [], "SPY": []}


def test_sip_feed_never_asks_for_the_latest_15_minutes_a_free_plan_refuses(server: FakeAlpacaServer) -> None:
    """Alpaca's free plan answers a SIP bars request whose end reaches into the latest 15 minutes with 403
    "subscription does not permit querying recent SIP data": a run after the close asking for that session's bar
    (its end the last second of the day) was stopped as a refused key. The request now ends 15 minutes ago."""
    today = datetime.now(NEW_YORK).date()
    days = [today - timedelta(days=k) for k in (3, 2, 1)]
    server.add_bars("SPY", [row(day, 600 + i) for i, day in enumerate(days)])

    def free_plan(request: FakeRequest) -> FakeResponse:
        end = datetime.fromisoformat(request.query["end"].replace("Z", "+00:00"))
        if request.query.get("feed") == "sip" and end > datetime.now(UTC) - timedelta(minutes=15):
            return FakeResponse(403, {"message": "subscription does not permit querying recent SIP data"})
        return server._stock_bars(request)

    server.route("GET", r"/v2/stocks/bars", free_plan, first=True)
    provider = AlpacaBarProvider(
        KEY_ID, SECRET, feed="sip", url_override=server.base_url, timeout_seconds=2, retry_attempts=0
    )

    bars = provider.daily_bars(["SPY"], days[0], today)["SPY"]

    assert [bar.day for bar in bars] == days


def test_a_machine_clock_ahead_of_alpacas_meets_the_recent_sip_refusal_as_a_wait_not_a_refused_key(
    server: FakeAlpacaServer,
) -> None:
    """The request ends 16 minutes before this machine's clock; with that clock two minutes ahead of Alpaca's (a drift
    NTP has not corrected), it reaches into Alpaca's latest 15 minutes and the free plan answers 403 "subscription does
    not permit querying recent SIP data". That was read as a refused key: exit 1 at once, "check the keys", no other
    provider asked, though the keys read every older range. It is a wait (exit 75, the next provider asked), naming
    the clock's lead from Alpaca's Date header."""
    today = datetime.now(NEW_YORK).date()
    days = [today - timedelta(days=k) for k in (3, 2, 1)]
    server.add_bars("SPY", [row(day, 600 + i) for i, day in enumerate(days)])
    server.free_plan = True
    server.wall = lambda: time.time() - 120  # Alpaca's clock (its Date header, its 15 minutes) behind this machine's
    provider = AlpacaBarProvider(
        KEY_ID, SECRET, feed="sip", url_override=server.base_url, timeout_seconds=2, retry_attempts=0
    )
    with pytest.raises(MarketDataUnavailable) as caught:
        provider.daily_bars(["SPY"], days[0], today)
    said = str(caught.value)
    assert caught.value.exit_code == 75
    assert "HTTP 403: subscription does not permit querying recent SIP data" in said
    assert "check the keys" not in said and "the keys are not at fault" in said
    ahead = int(said.split("this machine's clock is ")[1].split(" s ahead")[0])
    assert 118 <= ahead <= 123, said
    # A range that ended a day before is not recent at any clock: read as ever.
    assert [b.day for b in provider.daily_bars(["SPY"], days[0], days[1])["SPY"]] == days[:2]


# ---------------------------------------------------------------- Alpaca's rate limit
#
# Alpaca answers a request over the account's limit with 429 and says on every answer when its window resets
# (X-RateLimit-Reset, epoch seconds); alpaca-py retried a 429 a fixed retry_wait_seconds apart, reading no header.


def test_a_rate_limit_longer_than_alpaca_pys_fixed_waits_is_waited_out_as_alpaca_says(
    server: FakeAlpacaServer,
) -> None:
    """In real time: alpaca-py's 3 attempts 0.5 s apart all met the window, which ends some 3 s later."""
    load_two_symbols(server)
    server.use_up_rate_limit(2.2)
    provider = AlpacaBarProvider(
        KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2, retry_attempts=RETRIES, retry_wait_seconds=0.5
    )
    started = time.monotonic()
    bars = provider.daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 9))
    assert [bar.day for bar in bars["SPY"]] == WINTER_DAYS[:5]
    assert 2.0 <= time.monotonic() - started <= 5.0
    assert len(bar_requests(server)) == 1 + 2  # the 429, then both pages


def test_a_rate_limit_is_waited_until_its_reset_within_the_bound(server: FakeAlpacaServer) -> None:
    load_two_symbols(server)
    wall = Wall()
    server.wall = wall
    server.use_up_rate_limit(40.0)
    waits = RateLimitWaits(wall=wall, sleep=wall.sleep)
    provider = AlpacaBarProvider(KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2, waits=waits)
    bars = provider.daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 9))
    assert [bar.day for bar in bars["SPY"]] == WINTER_DAYS[:5]
    [slept] = wall.slept
    assert 40.0 <= slept <= 41.5  # until X-RateLimit-Reset (a whole second), and a moment


@pytest.mark.parametrize(
    ("window", "deadline_in", "said"),
    [
        (300.0, None, r"Alpaca asked to wait 30[01] s, longer than the 90 s llmtrade waits at most"),
        (40.0, 25.0, r"Alpaca asked to wait 4[01] s, longer than the 25 s left before the job's deadline"),
    ],
    ids=["past-the-most", "past-the-deadline"],
)
def test_a_rate_limit_past_the_bound_is_not_waited_and_is_temporary_naming_the_wait(
    server: FakeAlpacaServer, window: float, deadline_in: float | None, said: str
) -> None:
    load_two_symbols(server)
    wall = Wall()
    server.wall = wall
    server.use_up_rate_limit(window)
    now = datetime(2026, 1, 7, 16, 0, tzinfo=UTC)
    deadline = now + timedelta(seconds=deadline_in) if deadline_in is not None else None
    waits = RateLimitWaits(deadline=deadline, clock=FixedClock(now), wall=wall, sleep=wall.sleep)
    provider = AlpacaBarProvider(KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2, waits=waits)
    with pytest.raises(MarketDataUnavailable, match=rf"rate-limited \(HTTP 429: too many requests.\): {said}"):
        provider.daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 9))
    assert wall.slept == [] and len(bar_requests(server)) == 1


def test_a_rate_limit_past_the_bound_fails_at_once_by_default(server: FakeAlpacaServer) -> None:
    """No wait begun that the job could not see the end of, and no second request into the same window."""
    load_two_symbols(server)
    server.use_up_rate_limit(300.0)
    provider = AlpacaBarProvider(KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2)
    started = time.monotonic()
    with pytest.raises(MarketDataUnavailable, match=r"Alpaca asked to wait 30[01] s, longer than the 90 s") as caught:
        provider.daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 9))
    assert caught.value.exit_code == 75 and time.monotonic() - started < 1.0
    assert len(bar_requests(server)) == 1


class WallClock:
    """The job's clock on the Wall: real time, as a SystemClock's, that a wait moves on."""

    real = True

    def __init__(self, wall: Wall) -> None:
        self.wall = wall

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.wall.now, UTC)


def limited_first(server: FakeAlpacaServer, wall: Wall, script: list[float | None]) -> None:
    """The bars requests answered in turn as `script` says: a number, 429 with X-RateLimit-Reset that many seconds on
    (Alpaca's window ended for this account by someone else's requests); None, the bars; then the bars."""

    def answer(request: FakeRequest) -> FakeResponse:
        reset = script.pop(0) if script else None
        if reset is None:
            return server._stock_bars(request)
        told = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(math.ceil(wall.now + reset))}
        return FakeResponse(429, {"message": "too many requests."}, told)

    server.route("GET", r"/v2/stocks/bars", answer, first=True)


def test_a_reads_rate_limit_waits_together_stay_within_the_most_across_its_pages(server: FakeAlpacaServer) -> None:
    """The bound is the read's: each page (a request of its own) waited up to 90 s anew, so a read of three pages
    met by a used-up window at each waited 40 + 60 + 60 s, past the 90 s said."""
    load_two_symbols(server)  # 10 bars of SPY and QQQ in 5 days: 3 pages of 4
    wall = Wall()
    server.wall = wall
    limited_first(server, wall, [40.0, None, 60.0, None, 60.0])
    waits = RateLimitWaits(wall=wall, sleep=wall.sleep)
    provider = AlpacaBarProvider(KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2, waits=waits)
    said = r"Alpaca asked to wait 6[01] s more after 4[01] s, past the 90 s llmtrade waits at most"
    with pytest.raises(MarketDataUnavailable, match=said):
        provider.daily_bars(["SPY", "QQQ"], date(2026, 1, 5), date(2026, 1, 9))
    assert len(wall.slept) == 1 and sum(wall.slept) <= 90.0


def test_a_rate_limit_wait_that_ends_before_the_deadline_is_waited_after_an_earlier_one(
    server: FakeAlpacaServer,
) -> None:
    """The waits already spent brought the deadline nearer on the job's clock; they were counted against it a second
    time, so a second wait of 50 s after 30, 58 s still left of the deadline's 90, was refused."""
    load_two_symbols(server)
    wall = Wall()
    server.wall = wall
    limited_first(server, wall, [30.0, 50.0])
    clock = WallClock(wall)
    waits = RateLimitWaits(deadline=clock.now() + timedelta(seconds=90), clock=clock, wall=wall, sleep=wall.sleep)
    provider = AlpacaBarProvider(KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2, waits=waits)
    bars = provider.daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 9))
    assert [bar.day for bar in bars["SPY"]] == WINTER_DAYS[:5]
    assert len(wall.slept) == 2 and sum(wall.slept) <= 90.0


def test_a_rate_limit_is_not_waited_past_the_deadline_of_a_job_whose_clock_stands_still(
    server: FakeAlpacaServer,
) -> None:
    """LLMTRADE_NOW's clock does not move while the job waits: the deadline 60 s ahead stayed 60 s ahead, so a read's
    second page waited 40 s more after 40, 81 s in all. The real time passed since the job began now counts."""
    load_two_symbols(server)
    wall = Wall()
    server.wall = wall
    limited_first(server, wall, [40.0, None, 40.0])
    now = datetime(2026, 1, 7, 16, 0, tzinfo=UTC)
    waits = RateLimitWaits(deadline=now + timedelta(seconds=60), clock=FixedClock(now), wall=wall, sleep=wall.sleep)
    provider = AlpacaBarProvider(KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2, waits=waits)
    said = r"Alpaca asked to wait 4[01] s more after 4[01] s, past the 1\d s left before the job's deadline"
    with pytest.raises(MarketDataUnavailable, match=said):
        provider.daily_bars(["SPY", "QQQ"], date(2026, 1, 5), date(2026, 1, 9))
    assert len(wall.slept) == 1


def test_a_job_past_its_deadline_still_waits_out_a_short_rate_limit_up_to_alpaca_pys_old_retries(
    server: FakeAlpacaServer,
) -> None:
    """A job already past its deadline (a late catch-up run) refused even a 0.5 s wait and failed as temporary
    (exit 75), where alpaca-py had retried three times 3 s apart. A read now always may wait 9 s in all."""
    load_two_symbols(server)
    wall = Wall()
    wall.now = float(int(wall.now))  # a whole second: each wait is exactly the reset's seconds and the 0.5 s margin
    server.wall = wall
    clock = WallClock(wall)
    late = RateLimitWaits(deadline=clock.now() - timedelta(minutes=10), clock=clock, wall=wall, sleep=wall.sleep)
    limited_first(server, wall, [2.0])
    provider = AlpacaBarProvider(KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2, waits=late)
    bars = provider.daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 9))
    assert [bar.day for bar in bars["SPY"]] == WINTER_DAYS[:5] and wall.slept == [2.5]
    # Past those 9 s the deadline stands: a third wait of 7 s after 2.5 and 5 (each to a whole second) is not begun.
    wall.slept, wall.now = [], float(math.ceil(wall.now))
    limited_first(server, wall, [2.0, 4.0, 6.0])
    provider = AlpacaBarProvider(KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2, waits=late)
    said = r"Alpaca asked to wait 7 s more after 8 s, past the 9 s a read may wait in all past the job's deadline"
    with pytest.raises(MarketDataUnavailable, match=said) as caught:
        provider.daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 9))
    assert caught.value.exit_code == 75 and wall.slept == [2.5, 5.0]


@pytest.mark.parametrize("alpaca_ahead", [120.0, -120.0], ids=["clock-behind", "clock-ahead"])
def test_a_rate_limit_is_waited_by_alpacas_clock_when_this_machines_is_off(
    server: FakeAlpacaServer, alpaca_ahead: float
) -> None:
    """X-RateLimit-Reset is Alpaca's epoch second: read against this machine's clock two minutes behind Alpaca's, a
    window ending in 30 s asked 150 s and was refused as past the 90 s; two minutes ahead, it was waited 0.5 s and
    asked again into the same window, three times. The answer's Date is Alpaca's clock: the wait is read against it."""
    load_two_symbols(server)
    wall = Wall()
    server.wall = lambda: wall.now + alpaca_ahead
    server.use_up_rate_limit(30.0)
    waits = RateLimitWaits(wall=wall, sleep=wall.sleep)
    provider = AlpacaBarProvider(KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2, waits=waits)
    bars = provider.daily_bars(["SPY"], date(2026, 1, 5), date(2026, 1, 9))
    assert [bar.day for bar in bars["SPY"]] == WINTER_DAYS[:5]
    [slept] = wall.slept
    assert 30.0 <= slept <= 32.5  # until the reset (a whole second) on the Date (a whole second), and a moment


def test_a_jobs_market_and_quotes_wait_out_no_rate_limit_past_the_jobs_deadline(
    storage: Storage, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job's deadline (workflows/schedule.py `retry_deadline`, what Container.workbench is given) bounds the
    waits of the Alpaca providers its market and quotes are built with, read on the job's clock; other reads, and
    the providers a backtest keeps from job to job, are left as they are."""
    monkeypatch.setenv("ALPACA_DATA_KEY", "k")
    monkeypatch.setenv("ALPACA_DATA_SECRET", "s")
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path), LLMTRADE_MARKET_PROVIDERS="alpaca")
    clock = FixedClock(FIXED_NOW)
    app = Container(settings, load_config(None), clock, None, lambda _t: None, offline=True)
    deadline = FIXED_NOW + timedelta(minutes=1)
    market = app.market(storage, live=True, deadline=deadline)
    [bars] = market.providers
    [quotes] = app.quotes(storage, market, live=True, deadline=deadline).providers
    bound = f"the 60 s left before the job's deadline ({deadline:%Y-%m-%d %H:%M %Z})"
    for provider in (bars, quotes):
        assert isinstance(provider, DataAccess)
        assert (provider.waits.deadline, provider.waits.clock, provider.waits.most_seconds) == (deadline, clock, 90.0)
        left, said = provider.waits.budget()
        assert said == bound and 59.0 < left <= 60.0  # the job's fixed clock, and the real time since the job began
    [unbounded] = app.market(storage, live=True).providers
    assert isinstance(unbounded, DataAccess) and unbounded.waits.deadline is None
    kept = AlpacaBarProvider("k", "s")
    [copied] = within_deadline([kept], deadline, clock)
    assert copied is not kept and kept.waits.deadline is None


# ---------------------------------------------------------------- the SIP feed just after midnight


@pytest.mark.parametrize("hhmmss", ["00:00:00", "00:07:30", "00:15:59", "00:16:00"])
def test_a_sip_range_starting_today_just_after_midnight_asks_nothing_and_has_no_bars(
    server: FakeAlpacaServer, monkeypatch: pytest.MonkeyPatch, hhmmss: str
) -> None:
    """The SIP request ends 16 minutes before now (the free plan refuses the latest 15); a range starting today
    asked before 00:16 in New York would end before it starts, which Alpaca answers 422. Now nothing is asked and
    there are no bars, which the service takes as this provider having none (the next one is asked)."""
    today = date(2026, 1, 14)
    now = datetime.combine(today, datetime.strptime(hhmmss, "%H:%M:%S").time(), tzinfo=NEW_YORK)
    server.wall = now.timestamp
    server.free_plan = True
    server.add_bars("SPY", [row(day, 600 + i) for i, day in enumerate(WINTER_DAYS) if day < today])
    provider = _sip_provider(server, now, monkeypatch)
    assert provider.daily_bars(["SPY", "QQQ"], today, today) == {"SPY": [], "QQQ": []}
    assert bar_requests(server) == []
    # The days before are asked as ever, up to 16 minutes ago.
    bars = provider.daily_bars(["SPY"], date(2026, 1, 12), today)["SPY"]
    assert [bar.day for bar in bars] == [date(2026, 1, 12), date(2026, 1, 13)]
    [asked] = bar_requests(server)
    assert datetime.fromisoformat(asked["end"]) == now - timedelta(minutes=16)


@pytest.mark.parametrize("hhmmss", ["00:16:01", "00:30:00"])
def test_a_sip_range_starting_today_past_the_cut_is_asked_up_to_16_minutes_ago(
    server: FakeAlpacaServer, monkeypatch: pytest.MonkeyPatch, hhmmss: str
) -> None:
    today = date(2026, 1, 14)
    now = datetime.combine(today, datetime.strptime(hhmmss, "%H:%M:%S").time(), tzinfo=NEW_YORK)
    server.wall = now.timestamp
    server.free_plan = True
    provider = _sip_provider(server, now, monkeypatch)
    assert provider.daily_bars(["SPY"], today, today) == {"SPY": []}  # today's bar is made by today's trades
    [asked] = bar_requests(server)
    start, end = (datetime.fromisoformat(asked[key]) for key in ("start", "end"))
    assert start == datetime.combine(today, datetime.min.time(), tzinfo=NEW_YORK) < end == now - timedelta(minutes=16)


@pytest.mark.parametrize(("hhmm", "complete"), [("16:05", False), ("16:20", True)])
def test_a_sessions_sip_bar_is_taken_and_cached_only_once_the_cut_reaches_its_close(
    server: FakeAlpacaServer,
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    hhmm: str,
    complete: bool,
) -> None:
    """A session counts as complete at its 16:00 close, but the SIP request ends 16 minutes before now: between 16:00
    and 16:16 Alpaca sends the day's bar made of the trades before the cut, without its close (the fake sends the
    day's bar for any end past its midnight stamp, as Alpaca does), and it was returned and cached as the session's.
    Now the session is not taken from the SIP feed until the cut reaches its close: the next provider is asked, and
    with none left the read is temporary (exit 75), nothing asked of Alpaca nor cached; from 16:16 it is as before."""
    today = date(2026, 1, 14)
    now = datetime.combine(today, datetime.strptime(hhmm, "%H:%M").time(), tzinfo=NEW_YORK)
    server.wall = now.timestamp
    server.free_plan = True
    server.add_bars("SPY", [row(day, 600 + i) for i, day in enumerate(WINTER_DAYS) if day <= today])
    provider = _sip_provider(server, now, monkeypatch)
    cache = BarCache(storage.conn)
    market = MarketData([provider], cache, TradingCalendar(), Recording(storage.events, "r1"))
    if complete:
        series = market.bars_asof(["SPY"], now, sessions=5)
        assert series.provider == "alpaca" and series.bars["SPY"][-1].day == today
        assert cache.count(["SPY"], today, today, synthetic=False) == 1
        return
    with pytest.raises(MarketDataUnavailable) as caught:
        market.bars_asof(["SPY"], now, sessions=5)
    assert caught.value.exit_code == 75
    assert str(caught.value).startswith(
        "alpaca: alpaca has no complete bar of 2026-01-14 yet: the sip feed is asked up to 16 minutes before now (the "
        "free plan refuses the latest 15): to 2026-01-14 15:49 New York, before the 16:00 close; complete from 16:16"
    )
    assert bar_requests(server) == [] and cache.count(["SPY"], today, today, synthetic=False) == 0
    [failed] = [e.payload for e in storage.events.read(type="MarketProviderFailed")]
    assert (failed["provider"], failed["error_type"]) == ("alpaca", "BarNotComplete")  # a MarketDataUnavailable
    # A provider after it whose bar of the session is complete (a file's) supplies the read.
    folder = tmp_path / "csv"
    folder.mkdir()
    lines = [f"{day},{599 + i},{602 + i},{598 + i},{600 + i},1000000" for i, day in enumerate(WINTER_DAYS[:8])]
    (folder / "SPY.csv").write_text("\n".join(["Date,Open,High,Low,Close,Volume", *lines]) + "\n")
    market = MarketData([provider, CsvFolderProvider(folder)], cache, TradingCalendar(), Recording(storage.events))
    series = market.bars_asof(["SPY"], now, sessions=5)
    assert series.provider == "csv" and series.bars["SPY"][-1].day == today and bar_requests(server) == []


def test_llmtrade_now_just_after_a_past_sessions_close_takes_its_sip_bar_up_to_that_now(
    server: FakeAlpacaServer, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LLMTRADE_NOW on a past session at 16:05: the SIP cut and completion were both judged on that clock, 16 minutes
    before it (15:49), so the bar was never complete and every run exited 75 for good, though Alpaca's real clock was
    long past it. Now the 16 minutes are the real clock's: the bar is taken and cached, asked up to the command's now
    and not after it (the day after, on the server, is not read)."""
    today = date(2026, 1, 14)
    now = datetime.combine(today, datetime.strptime("16:05", "%H:%M").time(), tzinfo=NEW_YORK)
    server.wall = (now + timedelta(days=30)).timestamp  # the real world, a month on
    server.free_plan = True
    server.add_bars("SPY", [row(day, 600 + i) for i, day in enumerate(WINTER_DAYS)])
    provider = _sip_provider(server, now, monkeypatch)
    cache = BarCache(storage.conn)
    market = MarketData([provider], cache, TradingCalendar(), Recording(storage.events, "r1"))
    series = market.bars_asof(["SPY"], now, sessions=5)
    assert series.provider == "alpaca" and series.bars["SPY"][-1].day == today
    assert cache.count(["SPY"], today, today, synthetic=False) == 1
    assert {datetime.fromisoformat(asked["end"]) for asked in bar_requests(server)} == {now}  # its pages


def _sip_provider(server: FakeAlpacaServer, now: datetime, monkeypatch: pytest.MonkeyPatch) -> AlpacaBarProvider:
    """The alpaca provider as a command builds it (market/providers.py) on the SIP feed, its clock LLMTRADE_NOW, its
    real clock the fake's (`server.wall`: Alpaca's and the real world's, one)."""
    monkeypatch.setenv("ALPACA_DATA_KEY", KEY_ID)
    monkeypatch.setenv("ALPACA_DATA_SECRET", SECRET)
    settings = Settings(LLMTRADE_NOW=now.isoformat(), LLMTRADE_ALPACA_DATA_URL=server.base_url)
    assets = load_config(None).config.assets
    assets = assets.model_copy(update={"market_data": assets.market_data.model_copy(update={"alpaca_feed": "sip"})})
    [provider] = build_providers(assets, settings, ["alpaca"])
    assert isinstance(provider, AlpacaBarProvider) and provider.feed == "sip"
    return provider.waiting(replace(provider.waits, wall=server.wall))


def test_a_sip_cut_stays_out_of_alpacas_own_latest_15_minutes_when_llmtrade_now_is_ahead_of_the_real_clock(
    server: FakeAlpacaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The free plan refuses SIP data within 15 minutes of Alpaca's clock, the real one, not the command's: an
    LLMTRADE_NOW ten minutes ahead cut the request at 6 minutes ago, refused 403 and taken for a refused key (exit 1).
    The cut is 16 minutes before the earlier of the two: never into the latest 15 real minutes, never past the
    command's now."""
    real = datetime.now(UTC)  # the fake's wall: real time, as Alpaca's
    server.free_plan = True
    today = real.astimezone(NEW_YORK).date()
    days = [today - timedelta(days=k) for k in (3, 2, 1)]
    server.add_bars("SPY", [row(day, 600 + i) for i, day in enumerate(days)])
    provider = _sip_provider(server, real + timedelta(minutes=10), monkeypatch)
    bars = provider.daily_bars(["SPY"], days[0], today)["SPY"]
    assert [bar.day for bar in bars] == days
    [asked] = bar_requests(server)
    assert datetime.fromisoformat(asked["end"]) <= real - timedelta(minutes=15)
