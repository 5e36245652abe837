"""The latest price from Alpaca's market data API (v2 stocks latest trades and quotes), through alpaca-py.

Each symbol's price is its latest trade, or the midpoint of its latest quote when that is newer (a quiet
ETF on the free IEX feed may not have traded for minutes while its quote moves). What Alpaca answers is
taken as it is, and its known ways of being wrong are left to the quote service to refuse: a "latest"
trade from days or months ago (alpacahq/Alpaca-API#267), a pre-market print before the open. A quote
with a zero or missing side (alpacahq/alpaca-trade-api-js#129) or a crossed book has no midpoint and is
ignored, and so is a quote wider than `MAX_SPREAD` of its midpoint: the free feed is IEX's book alone, which
can be dollars wide where the whole market's is cents (an IEX AMZN quote over $300 wide, Petersoj/alpaca-java#91;
an IEX midpoint far from the price the dashboard shows, alpacahq/alpaca-py#475), and its midpoint would value a
position and size an order off a price nobody trades at. The latest trade then stands. A symbol Alpaca has nothing
for is simply absent from its answer, and so from ours.

Timeouts, retries and errors are the daily-bar provider's (alpaca_http.py): 5xx are retried by
alpaca-py's own loop, a 429 is waited out as Alpaca says (alpaca_limits.py), then either is reported as
MarketDataUnavailable so the next provider is asked; a refused key is a MarketDataError. An empty body
(alpaca-py then fails inside its own parser) is unavailable too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from llmtrade.domain.market import Quote
from llmtrade.errors import MarketDataUnavailable
from llmtrade.market.alpaca_http import DataAccess, FeedNotPermitted, data_api_error, recent_sip_refused, wire_error

# The widest quote (ask - bid, as a fraction of its midpoint) whose midpoint is a price: within it the midpoint is at
# most half a percent from either side. A liquid ETF's IEX quote is a few cents on hundreds of dollars (0.01-0.1%).
MAX_SPREAD = 0.01


class AlpacaQuotes(DataAccess):
    name = "alpaca"
    synthetic = False

    def never_in_session(self, symbols: list[str], now: datetime | None) -> dict[str, str]:
        return {}  # its latest trade or quote prices every session it lists

    def latest(self, symbols: list[str], now: datetime) -> dict[str, Quote]:
        """Each symbol's latest trade or quote midpoint, whichever is newer; `now` is not sent (Alpaca
        answers "latest" as of its own clock, and the service refuses anything stamped after now)."""
        wanted = list(dict.fromkeys(symbols))
        if not wanted:
            return {}
        trades, quotes = self._fetch(wanted)
        result: dict[str, Quote] = {}
        for symbol in wanted:
            candidates = [c for c in (_trade(symbol, trades.get(symbol)), _midpoint(symbol, quotes.get(symbol))) if c]
            if candidates:
                result[symbol] = max(candidates, key=lambda q: q.as_of)
        return result

    def _fetch(self, symbols: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        # lazy: alpaca-py is heavy; keeps CLI start-up fast
        from alpaca.data.requests import StockLatestQuoteRequest, StockLatestTradeRequest

        client, feed = self.data_client()
        where = self.url_override or "data.alpaca.markets"
        trade_request = StockLatestTradeRequest(symbol_or_symbols=symbols, feed=feed)
        quote_request = StockLatestQuoteRequest(symbol_or_symbols=symbols, feed=feed)
        try:
            trades = self._ask(where, lambda: client.get_stock_latest_trade(trade_request))
            try:
                quotes = self._ask(where, lambda: client.get_stock_latest_quote(quote_request))
            except MarketDataUnavailable:
                # The trades are in hand; a quotes endpoint that fails now only costs the midpoints.
                quotes = {}
        finally:
            client._session.close()
        return _symbol_map(trades), _symbol_map(quotes)

    def _ask(self, where: str, call: Callable[[], Any]) -> Any:
        """One alpaca-py call, its failures translated into our two error families."""
        import requests
        from alpaca.common.exceptions import APIError

        try:
            return call()
        except requests.RequestException as exc:
            raise wire_error(exc, "alpaca latest prices", where, self.timeout_seconds) from exc
        except APIError as exc:
            if (refused := recent_sip_refused(exc)) is not None:
                # Latest prices are always the latest 15 minutes: a plan without real-time SIP never gets them. It was
                # "check the keys" (exit 1) of keys that read the sip feed's daily bars.
                raise FeedNotPermitted(
                    f"alpaca refused the {self.feed!r} feed's latest prices (HTTP 403: {refused}): the keys' plan "
                    "has no real-time SIP (Alpaca's Algo Trader Plus); set assets.yaml market_data.alpaca_feed to iex"
                ) from exc
            raise data_api_error(exc, self.feed, self.retry_attempts) from exc
        except AttributeError:
            # `"trades": null` / `"quotes": null` (Alpaca's null for "nothing", as on its bars endpoint), which
            # alpaca-py calls `.items()` on: no prices, so each symbol is left to the next provider.
            return {}
        except (ValueError, TypeError) as exc:
            # alpaca-py parsing an empty body (TypeError) or one with none of its keys (ValueError).
            raise MarketDataUnavailable(f"alpaca latest prices ({where}) answered with no usable body: {exc}") from exc


def _symbol_map(raw: Any) -> dict[str, Any]:
    return raw if isinstance(raw, dict) else {}


def _instant(row: dict[str, Any]) -> datetime | None:
    try:
        # Alpaca stamps in RFC 3339 with nanoseconds ("...T14:30:00.123456789Z"); Python keeps microseconds.
        text = str(row.get("t"))
        head, dot, tail = text.partition(".")
        if dot:
            digits = "".join(ch for ch in tail if ch.isdigit())
            text = f"{head}.{digits[:6]}{tail[len(digits) :]}"
        instant = datetime.fromisoformat(text)
    except ValueError:
        return None
    return instant if instant.utcoffset() is not None else None


def _price(value: Any) -> float | None:
    try:
        price = float(value)
    except (TypeError, ValueError):
        return None
    return price if math.isfinite(price) and price > 0 else None


def _trade(symbol: str, row: Any) -> Quote | None:
    if not isinstance(row, dict):
        return None
    instant, price = _instant(row), _price(row.get("p"))
    if instant is None or price is None:
        return None
    return Quote(symbol=symbol, price=price, as_of=instant, provider="alpaca", kind="trade")


def _midpoint(symbol: str, row: Any) -> Quote | None:
    if not isinstance(row, dict):
        return None
    instant, bid, ask = _instant(row), _price(row.get("bp")), _price(row.get("ap"))
    if instant is None or bid is None or ask is None or ask < bid:
        return None
    if (ask - bid) / ((bid + ask) / 2) > MAX_SPREAD:
        return None
    return Quote(symbol=symbol, price=round((bid + ask) / 2, 4), as_of=instant, provider="alpaca", kind="quote-mid")
