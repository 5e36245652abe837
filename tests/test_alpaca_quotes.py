"""AlpacaQuotes through the real alpaca-py client against the fake Alpaca's latest-trade/quote endpoints.

Nothing of alpaca-py is mocked: the requests it really sends, the JSON it really parses and the
exceptions it really raises (including on an empty body) meet the quote service's rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import pytest

from llmtrade.clock import FixedClock
from llmtrade.errors import MarketDataError, MarketDataUnavailable
from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.alpaca_limits import RateLimitWaits
from llmtrade.market.alpaca_quotes import AlpacaQuotes
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.quotes import QuoteService
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.market.synthetic_quotes import SyntheticQuotes
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_latest import FakeLatestPrices
from tests.fakes.alpaca_server import FakeAlpacaServer, FakeResponse, Wall

KEY_ID = "test-key-id"
SECRET = "test-secret"
DAY = date(2026, 1, 7)
CALENDAR = TradingCalendar()


def at(hh: int, mm: int, ss: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hh, mm, ss), tzinfo=NEW_YORK)


NOON = at(12, 0)


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        yield fake


@pytest.fixture
def latest(server: FakeAlpacaServer) -> FakeLatestPrices:
    return FakeLatestPrices.install(server)


def provider_for(server: FakeAlpacaServer, *, secret: str = SECRET) -> AlpacaQuotes:
    return AlpacaQuotes(
        KEY_ID, secret, url_override=server.base_url, timeout_seconds=0.5, retry_attempts=2, retry_wait_seconds=0.01
    )


def service(storage: Storage, server: FakeAlpacaServer) -> QuoteService:
    synthetic = SyntheticMarket({"SPY": "equity", "TLT": "rates"})
    market = MarketData([synthetic], BarCache(storage.conn), CALENDAR, Recording(storage.events, "r1"))
    providers = [provider_for(server), SyntheticQuotes(synthetic, CALENDAR)]
    return QuoteService(
        providers, market, FixedClock(NOON), staleness=timedelta(minutes=15), recording=Recording(storage.events, "r1")
    )


def test_the_latest_trade_is_the_price_stamped_with_its_own_time(
    server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    latest.set_trade("SPY", 601.25, at(11, 59, 30))
    latest.set_trade("TLT", "88.10", at(11, 58))  # a price as a string is still a price
    quotes = provider_for(server).latest(["SPY", "TLT"], NOON)
    assert (quotes["SPY"].price, quotes["SPY"].kind, quotes["SPY"].source) == (601.25, "trade", "alpaca trade")
    assert quotes["SPY"].as_of == at(11, 59, 30)  # nanosecond stamp read to the microsecond, in its zone
    assert quotes["TLT"].price == 88.10
    [trades] = [r for r in server.requests if r.path == "/v2/stocks/trades/latest"]
    assert trades.query == {"symbols": "SPY,TLT", "feed": "iex"}  # no limit, no page token: the endpoint refuses both


def test_a_newer_quote_midpoint_wins_and_a_one_sided_quote_is_ignored(
    server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    latest.set_trade("SPY", 600.0, at(11, 50))
    latest.set_quote("SPY", 600.9, 601.1, at(11, 59))
    latest.set_trade("TLT", 88.0, at(11, 55))
    latest.set_quote("TLT", 0, 88.5, at(11, 59, 50))  # no bid: no midpoint, the trade stands
    quotes = provider_for(server).latest(["SPY", "TLT"], NOON)
    assert (quotes["SPY"].kind, quotes["SPY"].price, quotes["SPY"].as_of) == ("quote-mid", 601.0, at(11, 59))
    assert (quotes["TLT"].kind, quotes["TLT"].price) == ("trade", 88.0)


def test_a_wide_iex_quote_is_no_price_the_trade_or_the_next_provider_is(
    storage: Storage, server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    # The free feed is IEX's book alone: dollars wide where the market is cents (Petersoj/alpaca-java#91).
    latest.set_trade("SPY", 600.0, at(11, 50))
    latest.set_quote("SPY", 450.0, 750.0, at(11, 59))  # midpoint 600 by chance: still no price
    latest.set_quote("TLT", 80.0, 97.0, at(11, 59))  # no trade at all: the midpoint 88.5 would be the only price
    latest.set_quote("GLD", 300.0, 302.9, at(11, 59))  # just under 1% wide: a price
    quotes = provider_for(server).latest(["SPY", "TLT", "GLD"], NOON)
    assert (quotes["SPY"].kind, quotes["SPY"].price) == ("trade", 600.0)
    assert "TLT" not in quotes
    assert (quotes["GLD"].kind, quotes["GLD"].price) == ("quote-mid", 301.45)
    priced = service(storage, server).quotes(["SPY", "TLT"])
    assert priced["TLT"].provider == "synthetic"


def test_a_symbol_alpaca_has_nothing_for_is_priced_by_the_next_provider(
    storage: Storage, server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    latest.set_trade("SPY", 601.0, at(11, 59))
    quotes = service(storage, server).quotes(["SPY", "TLT"])
    assert quotes["SPY"].provider == "alpaca" and quotes["TLT"].provider == "synthetic"
    refused = [e.payload for e in storage.events.read(type="QuoteRefused")]
    assert [(r["provider"], r["symbols"], r["reason"]) for r in refused] == [("alpaca", ["TLT"], "missing")]


def test_a_months_old_latest_trade_is_refused_not_traded_on(
    storage: Storage, server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    # alpacahq/Alpaca-API#267: "latest" served a trade from August in December.
    latest.set_trade("SPY", 540.0, datetime(2025, 8, 14, 15, 59, tzinfo=NEW_YORK))
    quote = service(storage, server).quote("SPY")
    assert quote.provider == "synthetic"
    [refused] = [e.payload for e in storage.events.read(type="QuoteRefused")]
    assert refused["reason"] == "before-open" and "2025-08-14T15:59:00" in refused["error"]


def test_outside_the_session_the_last_close_is_the_price_not_an_after_hours_print(
    storage: Storage, server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    latest.set_trade("SPY", 999.0, at(19, 45))  # an after-hours trade
    quote = service(storage, server).quote("SPY", at(20, 0))
    assert quote.kind == "close" and quote.as_of == at(16, 0)
    assert quote.price != 999.0
    assert server.count("GET", "/v2/stocks/trades/latest") == 0  # closed: the feed is not even asked


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_struggling_feed_is_retried_then_unavailable(
    server: FakeAlpacaServer, latest: FakeLatestPrices, status: int
) -> None:
    latest.set_trade("SPY", 601.0, at(11, 59))
    server.fail_next(status, times=1)
    assert provider_for(server).latest(["SPY"], NOON)["SPY"].price == 601.0  # alpaca-py's retry passed it
    server.fail_next(status, times=3)
    with pytest.raises(MarketDataUnavailable, match=f"HTTP {status}"):
        provider_for(server).latest(["SPY"], NOON)


def test_an_empty_body_is_unavailable_and_the_next_provider_answers(
    storage: Storage, server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    latest.set_trade("SPY", 601.0, at(11, 59))
    latest.empty_next()
    with pytest.raises(MarketDataUnavailable, match="no usable body"):
        provider_for(server).latest(["SPY"], NOON)
    latest.empty_next()
    assert service(storage, server).quote("SPY").provider == "synthetic"
    [refused] = [e.payload for e in storage.events.read(type="QuoteRefused")]
    assert refused["reason"] == "unavailable"


def test_a_refused_key_is_an_error_to_fix_not_a_fallback(server: FakeAlpacaServer, latest: FakeLatestPrices) -> None:
    with pytest.raises(MarketDataError, match="check the keys") as caught:
        provider_for(server, secret="wrong").latest(["SPY"], NOON)
    assert not isinstance(caught.value, MarketDataUnavailable)


def test_the_sip_feeds_latest_prices_on_a_plan_without_real_time_sip_are_the_feed_setting_to_mend(
    server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    """Alpaca's latest trade and quote are always its latest 15 minutes: on the sip feed, a plan without real-time SIP
    gets 403 "subscription does not permit querying recent SIP data" every time. It was "check the keys" (exit 1) of
    keys that read the same feed's daily bars; it is assets.yaml's alpaca_feed to mend (exit 2), said so."""
    server.free_plan = True
    latest.set_trade("SPY", 600.0, NOON)
    sip = AlpacaQuotes(KEY_ID, SECRET, feed="sip", url_override=server.base_url, timeout_seconds=0.5, retry_attempts=0)
    with pytest.raises(MarketDataError) as caught:
        sip.latest(["SPY"], NOON)
    said = str(caught.value)
    assert caught.value.exit_code == 2 and not isinstance(caught.value, MarketDataUnavailable)
    assert "HTTP 403: subscription does not permit querying recent SIP data" in said
    assert "check the keys" not in said and "alpaca_feed to iex" in said, said
    # The iex feed, which every plan has, answers as ever.
    assert provider_for(server).latest(["SPY"], NOON)["SPY"].price == 600.0


def test_the_fake_refuses_a_parameter_the_real_endpoint_refuses(
    server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    import requests

    answer = requests.get(
        f"{server.base_url}/v2/stocks/trades/latest",
        params={"symbols": "SPY", "limit": 1},
        headers={"APCA-API-KEY-ID": KEY_ID, "APCA-API-SECRET-KEY": SECRET},
        timeout=2,
    )
    assert answer.status_code == 400 and "unexpected query parameter(s): limit" in answer.text


def test_a_failing_quotes_endpoint_costs_the_midpoint_not_the_trade(
    server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    latest.set_trade("SPY", 600.0, at(11, 50))
    latest.set_quote("SPY", 600.9, 601.1, at(11, 59))
    server.fail_route("GET", r"/v2/stocks/quotes/latest", 503, times=3)  # through alpaca-py's retries
    quote = provider_for(server).latest(["SPY"], NOON)["SPY"]
    assert (quote.kind, quote.price) == ("trade", 600.0)
    assert server.count("GET", "/v2/stocks/quotes/latest") == 3


def test_a_trade_stamped_after_now_or_unreadable_is_not_a_price(
    storage: Storage, server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    latest.set_trade("SPY", 601.0, NOON + timedelta(seconds=2))  # Alpaca's clock ahead of ours
    latest.set_trade("TLT", "n/a", at(11, 59))  # a price that is not a number
    quotes = service(storage, server).quotes(["SPY", "TLT"])
    assert {q.provider for q in quotes.values()} == {"synthetic"}
    refused = {r.payload["symbols"][0]: r.payload["reason"] for r in storage.events.read(type="QuoteRefused")}
    assert refused == {"SPY": "after-now", "TLT": "missing"}


@pytest.mark.parametrize("provider", [AlpacaQuotes, AlpacaBarProvider])
def test_both_alpaca_data_clients_refuse_the_same_bad_settings_and_never_show_the_keys(provider: type) -> None:
    """The bars and the quotes providers hold the same settings (alpaca_http.DataAccess): the quotes' copy had
    lost the check of negative retries, refused only at its first request (configure_retries)."""
    for bad in ({"timeout_seconds": 0}, {"retry_attempts": -1}, {"retry_wait_seconds": -1.0}):
        with pytest.raises(ValueError):
            provider(KEY_ID, SECRET, **bad)
    shown = repr(provider(KEY_ID, SECRET, url_override="http://127.0.0.1:1"))
    assert shown.startswith(provider.__name__) and KEY_ID not in shown and SECRET not in shown


def test_trades_null_is_no_trades_and_the_quote_midpoint_stands(
    server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    """`"trades": null` where the symbols map belongs (Alpaca's null for "nothing", as its bars endpoint answers,
    alpacahq/alpaca-trade-api-python#478): alpaca-py calls `.items()` on it and its AttributeError escaped as a
    traceback. It is no trades: the midpoint stands, and a symbol with neither is left to the next provider."""
    latest.set_quote("SPY", 600.0, 600.2, at(11, 59))
    server.route("GET", r"/v2/stocks/trades/latest", lambda _: FakeResponse(200, {"trades": None}), first=True)

    quotes = provider_for(server).latest(["SPY", "TLT"], NOON)

    assert [(s, q.price, q.kind) for s, q in quotes.items()] == [("SPY", 600.1, "quote-mid")]


def test_alpacas_rate_limit_is_waited_out_as_it_says_and_a_wait_past_the_bound_fails_at_once(
    server: FakeAlpacaServer, latest: FakeLatestPrices
) -> None:
    """The latest prices go through the same data client as the bars (market/alpaca_limits.py): a 429 waits until
    X-RateLimit-Reset, not alpaca-py's fixed wait, and one that would wait past the bound is temporary at once."""
    latest.set_trade("SPY", 601.0, at(11, 59))
    wall = Wall()  # the fake's clock and the provider's waits, stepped rather than slept
    server.wall = wall
    server.use_up_rate_limit(1.2)
    assert stepping(server, wall).latest(["SPY"], NOON)["SPY"].price == 601.0  # three 0.01 s retries would not do
    [slept] = wall.slept
    assert 1.2 <= slept <= 2.7  # until X-RateLimit-Reset (a whole second), and a moment
    server.reset()
    wall.slept.clear()
    server.use_up_rate_limit(300.0)
    with pytest.raises(MarketDataUnavailable, match=r"rate-limited .*Alpaca asked to wait 30[01] s, longer than"):
        stepping(server, wall).latest(["SPY"], NOON)
    assert len(server.requests) == 1 and wall.slept == []


def stepping(server: FakeAlpacaServer, wall: Wall) -> AlpacaQuotes:
    """`provider_for`'s provider, its rate-limit waits spent on `wall`."""
    return provider_for(server).waiting(RateLimitWaits(wall=wall, sleep=wall.sleep))
