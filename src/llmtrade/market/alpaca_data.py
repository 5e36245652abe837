"""Daily bars from Alpaca's market data API (v2 stocks bars), through alpaca-py.

alpaca-py speaks `requests`, sets no timeout at all and retries only 429/504 on its own, sleeping
a fixed time between attempts. We give every request a timeout, widen its retries to the other 5xx
answers (a bars GET is an idempotent read), wait out a 429 as long as Alpaca's X-RateLimit-Reset says
(alpaca_limits.py) and translate what is left into our two error families: a refused key or
request is a MarketDataError (fix something), anything that may pass is MarketDataUnavailable
(another provider or a later run may succeed).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from llmtrade.config.models import BENCHMARK
from llmtrade.domain.market import Bar
from llmtrade.errors import MarketDataError, MarketDataUnavailable
from llmtrade.market.alpaca_http import (
    DataAccess,
    FeedNotPermitted,
    data_api_error,
    recent_sip_refused,
    wire_error,
)
from llmtrade.market.provider import SETTLED, data_cut
from llmtrade.market.untraded import short_of_end, untraded_in
from llmtrade.market.validation import BarProblem, ProblemKind, SeriesRejected

# Alpaca stamps a daily bar at midnight New York time (05:00Z in winter, 04:00Z in summer); the
# session date is that instant read in New York, never the UTC date.
_NEW_YORK = ZoneInfo("America/New_York")

# What a session without a bar between a symbol's bars means on each feed: Alpaca makes a daily bar of the trades its
# feed saw, and has none for a day without one (market/untraded.py).
_NO_TRADE = {
    "iex": (
        "no trade of it on IEX that session (the iex feed sees IEX alone, a few percent of US volume, where a thinly "
        "traded symbol goes whole sessions without a trade; for the consolidated bar put yfinance after alpaca in "
        "assets.yaml market_data.providers, or set market_data.alpaca_feed to sip)"
    ),
    "sip": "no trade of it on any US venue that session (the sip feed is the consolidated tape): a halt all session",
    "": "no trade of it on the feed that session",
}

# How recent SIP data Alpaca's free plan refuses (403); a minute over its 15 for clocks that differ.
_SIP_DELAY = timedelta(minutes=16)
# How much earlier than Alpaca's Date a request's end may be and still be in its latest 15 minutes: the Date's second is
# cut to a whole one, and the answer takes a moment to come back.
_DATE_SLACK = timedelta(seconds=2)


class AlpacaBarProvider(DataAccess):
    """Daily bars for US stocks and ETFs from one data feed (`iex` is free), as Alpaca adjusts them by default (raw)."""

    name = "alpaca"
    synthetic = False

    def origin(self, symbol: str) -> None:
        return None

    def incomplete(self, close: datetime) -> str | None:
        """Why the bar of the session closing at `close` is not complete yet, on either feed: Alpaca's bars take in
        trades delivered late and its daily bar the closing prints after 16:00 (provider.py SETTLED), so it is final
        from 20 minutes after the close; read at 16:00 the IEX bar was taken, and cached, without them. On the SIP feed
        besides, the request ends 16 minutes before the real now (`_until`; the wall of `waits`). Never after the
        command's now either (provider.py `data_cut`)."""
        wall = self.waits.wall
        if self.feed == "sip" and close > (cut := data_cut(self.clock, wall, _SIP_DELAY)) and cut != self.clock.now():
            cut, close, whole = (t.astimezone(_NEW_YORK) for t in (cut, close, close + _SIP_DELAY))
            return (
                "the sip feed is asked up to 16 minutes before now (the free plan refuses the latest 15): to "
                f"{cut:%Y-%m-%d %H:%M} New York, before the {close:%H:%M} close; complete from {whole:%H:%M}"
            )
        if close <= (cut := data_cut(self.clock, wall, SETTLED)):
            return None
        if cut == self.clock.now():  # LLMTRADE_NOW before the close: the session is not over at the command's now
            cut, close = cut.astimezone(_NEW_YORK), close.astimezone(_NEW_YORK)
            return f"the command's clock is {cut:%Y-%m-%d %H:%M} New York, before the {close:%H:%M} close"
        settled = (close + SETTLED).astimezone(_NEW_YORK)
        return (
            "Alpaca's daily bar takes in late and closing prints for a while after the close; taken from "
            f"{settled:%Y-%m-%d %H:%M} New York"
        )

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        """Bars per symbol for the New York session dates start..end inclusive, ascending; [] when none."""
        wanted = list(dict.fromkeys(symbols))  # unique, in the caller's order
        if not wanted:
            return {}
        if start > end:
            raise MarketDataError(f"alpaca bars: start {start} is after end {end}")
        raw = self._fetch(wanted, start, end)
        result: dict[str, list[Bar]] = {}
        for symbol in wanted:
            bars = [_to_bar(symbol, row) for row in raw.get(symbol) or []]
            # Alpaca's window is in instants; keep exactly the requested session dates. The same bar
            # twice (pages overlapping) is one bar; two different bars for one date are passed on, so
            # the validator rejects the series rather than this code picking one at random.
            in_range = [bar for bar in bars if start <= bar.day <= end]
            unique = list({(bar.day, bar): bar for bar in in_range}.values())
            result[symbol] = sorted(unique, key=lambda bar: bar.day)
        # A session without a bar between a symbol's bars is a day its feed saw no trade of it (market/untraded.py):
        # that symbol is asked of the next provider, never refused as a hole nor cached without the session. So are
        # the range's last sessions, up to QUIET_TAIL, when the answer has each of them of other symbols (`tail`): a
        # thin name's quiet days on IEX, or a halt, are no stale feed nor a delisting.
        why = _NO_TRADE.get(self.feed, _NO_TRADE[""])
        seen = self._benchmark_days(result, start, end)
        untraded = untraded_in(self.name, f"alpaca's {self.feed} feed", why, result, start, end, tail=True, seen=seen)
        if untraded is not None:
            raise untraded
        return result

    def _benchmark_days(self, result: dict[str, list[Bar]], start: date, end: date) -> set[date]:
        """The sessions the feed has of the benchmark after where `result`'s symbols stop short of the range's end,
        when no symbol of it shows the feed has them (a one-symbol read: market/untraded.py `short_of_end`); asked only
        then, never of an answer with the last session (a cache miss's read, never the cached path). A failure of
        this one request leaves those sessions unknown: the series is judged stale as it was before."""
        since = short_of_end(result, start, end)
        if since is None:
            return set()
        try:
            rows = self._fetch([BENCHMARK], since, end).get(BENCHMARK) or []
            return {bar.day for bar in (_to_bar(BENCHMARK, row) for row in rows) if since <= bar.day <= end}
        except (MarketDataError, MarketDataUnavailable):
            return set()

    def _fetch(self, symbols: list[str], start: date, end: date) -> dict[str, Any]:
        """Raw bar dicts per symbol, every page followed, or one of our errors."""
        # lazy: alpaca-py is heavy; keeps CLI start-up fast
        import requests
        from alpaca.common.exceptions import APIError
        from alpaca.data.enums import Adjustment
        from alpaca.data.requests import StockBarsRequest
        from alpaca.data.timeframe import TimeFrame

        # Midnight to the last second of the New York days, so no session at either edge is cut off. The SIP cut is
        # the earlier of the command's now (nothing after it is asked: LLMTRADE_NOW in the past) and 16 minutes before
        # the real one (the free plan's 15 minutes are Alpaca's real clock's: an LLMTRADE_NOW ahead of it was refused).
        cut = data_cut(self.clock, self.waits.wall, _SIP_DELAY)
        begin, until = datetime.combine(start, time(0, 0), tzinfo=_NEW_YORK), _until(end, self.feed, cut)
        if until <= begin:
            # A SIP range that starts within the latest 16 minutes (today's, between 00:00 and 00:16 in New York):
            # cut to what the feed gives, it would end before it starts, which Alpaca refuses (422). Nothing it could
            # hold is out yet (a session's daily bar is stamped at its midnight and made by its trades), so: no bars.
            return {}
        # raw_data: plain dicts keyed by symbol. We build our own Bar anyway, and alpaca-py's models
        # would only add a second, stricter parse that fails with less helpful messages.
        client, feed = self.data_client()

        request = StockBarsRequest(
            symbol_or_symbols=symbols,
            timeframe=TimeFrame.Day,
            start=begin,
            end=until,
            feed=feed,
            # Split-adjusted: an unadjusted split looks like a crash to every return and average.
            # Dividends stay unadjusted, as in the CSV and yfinance bars (auto_adjust=False).
            adjustment=Adjustment.SPLIT,
        )
        where = self.url_override or "data.alpaca.markets"
        try:
            return client.get_stock_bars(request)
        except requests.RequestException as exc:
            # Includes a 200 whose body is not JSON: typically a proxy or maintenance page, so temporary.
            raise wire_error(exc, "alpaca market data", where, self.timeout_seconds) from exc
        except APIError as exc:
            recent = _recent_refused(exc, until, self.waits.wall())
            raise (recent or data_api_error(exc, self.feed, self.retry_attempts)) from exc
        except AttributeError:
            # `"bars": null`: Alpaca's answer when no symbol asked has a bar in the window (one delisted or not
            # listed yet, alpacahq/alpaca-trade-api-python#478), which alpaca-py calls `.items()` on. An answer of
            # nothing: the service reports each symbol missing and asks the next provider.
            return {}
        except ValueError as exc:
            # alpaca-py's own complaint about a response with none of the keys it knows.
            raise MarketDataError(f"alpaca market data answered in an unexpected shape: {exc}") from exc
        finally:
            client._session.close()


def _recent_refused(exc: Any, until: datetime, wall: float) -> MarketDataError | MarketDataUnavailable | None:
    """Alpaca's 403 "subscription does not permit querying recent SIP data" to a SIP bars request ending at `until`,
    16 minutes before this machine's clock (`wall`, epoch seconds; `_until`): Alpaca's clock is behind it, so the
    request reached into Alpaca's latest 15 minutes (its answer's Date header says by how much). Not a key refused,
    which stops the read at once: it said "check the keys" of keys that read every other range. Temporary: the next
    provider is asked, nothing is cached, and a read of an older range (the day after) is not refused. When the Date
    says the range ended before Alpaca's latest 15 minutes, no clock explains the refusal: the keys' plan refuses the
    sip feed itself, the feed setting to mend (FeedNotPermitted, exit 2), which waiting never would. None for any
    other answer."""
    detail = recent_sip_refused(exc)
    if detail is None:
        return None
    ahead = ""
    with suppress(AttributeError, KeyError, TypeError, ValueError):
        theirs = parsedate_to_datetime(exc.response.headers["Date"])
        if theirs - until >= _SIP_DELAY - timedelta(minutes=1) + _DATE_SLACK:
            return FeedNotPermitted(
                f"alpaca refused sip bars up to {until.astimezone(_NEW_YORK):%Y-%m-%d %H:%M:%S} New York (HTTP 403: "
                f"{detail}), though by Alpaca's own clock (its Date: {theirs:%Y-%m-%d %H:%M:%S} UTC) they are older "
                "than its latest 15 minutes: the keys' plan does not give the sip feed; set assets.yaml "
                "market_data.alpaca_feed to iex (the keys are not at fault)"
            )
        if (seconds := wall - theirs.timestamp()) >= 1:
            ahead = f"; this machine's clock is {seconds:.0f} s ahead of Alpaca's (its Date: {theirs:%H:%M:%S} UTC)"
    return MarketDataUnavailable(
        f"alpaca refused sip bars up to {until.astimezone(_NEW_YORK):%Y-%m-%d %H:%M:%S} New York as recent data "
        f"(HTTP 403: {detail}), though asked 16 minutes back by this machine's clock{ahead}: set the clock (NTP); the "
        "keys are not at fault, and the range is asked again at the next read"
    )


def _until(end: date, feed: str, cut: datetime) -> datetime:
    """The request's end: the last second of New York day `end`; on the SIP feed, never after `cut` (provider.py
    `data_cut`: the command's now, and never within the 15 minutes before the real one).

    Alpaca's free plan answers a SIP request reaching into the latest 15 minutes with 403 "subscription does not
    permit querying recent SIP data" (what a run after the close asking for that session's bar does). So a session's
    daily bar asked before 16 minutes past its close is made of the trades before the cut, without its close: Alpaca
    sends it all the same, and `incomplete` says so, for the market service not to take it (nor cache it) until the
    cut reaches the close."""
    last = datetime.combine(end + timedelta(days=1), time(0, 0), tzinfo=_NEW_YORK) - timedelta(seconds=1)
    if feed != "sip":
        return last
    return min(last, cut.astimezone(UTC))


def _to_bar(symbol: str, row: Any) -> Bar:
    """One raw Alpaca bar ({"t", "o", "h", "l", "c", "v", ...}) as our Bar; prices may come as strings."""
    stamp = row.get("t") if isinstance(row, dict) else None
    try:
        if not isinstance(row, dict):
            raise ValueError(f"expected an object, got {row!r}")
        instant = datetime.fromisoformat(str(stamp))
        if instant.utcoffset() is None:
            raise ValueError("timestamp has no time zone")
        return Bar(
            symbol=symbol,
            day=instant.astimezone(_NEW_YORK).date(),
            open=row.get("o"),
            high=row.get("h"),
            low=row.get("l"),
            close=row.get("c"),
            volume=row.get("v"),
            source="alpaca",
            synthetic=False,
        )
    except (ValidationError, ValueError, TypeError) as exc:
        # A rejection, not a stop: the service records it and asks the next provider for the range.
        raise SeriesRejected(
            [
                BarProblem(
                    symbol=symbol,
                    kind=ProblemKind.BAD_PRICE,
                    days=[],
                    reason=f"alpaca sent an unusable bar for {symbol} at {stamp!r}: {_short(exc)}",
                )
            ]
        ) from None


def _short(exc: Exception) -> str:
    """A one-line reason: pydantic's first error rather than its multi-line report."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}" if where else first["msg"]
    return str(exc)
