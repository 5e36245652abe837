"""Alpaca's latest-trade and latest-quote endpoints, added to a FakeAlpacaServer without touching its routes.

`FakeLatestPrices.install(server)` registers GET /v2/stocks/trades/latest and /v2/stocks/quotes/latest
through the server's public `route`, so its trading and bar routes stay as they are. Shapes follow
Alpaca's market data v2 reference: `{"trades": {"SPY": {"t", "x", "p", "s", "c", "i", "z"}}}` and
`{"quotes": {"SPY": {"t", "ax", "ap", "as", "bx", "bp", "bs", "c", "z"}}}`, RFC 3339 stamps with
nanoseconds, no `next_page_token`.

It misbehaves as the real service does:
- a symbol it has nothing for is left out of the answer (no error, no null);
- "latest" is whatever was set last, however old: outside the session it is yesterday's (or an
  after-hours) print, and Alpaca has served months-old latest trades (alpacahq/Alpaca-API#267);
- a quote may have a zero bid or ask (alpacahq/alpaca-trade-api-js#129);
- a query parameter the endpoint does not take is a 400 "unexpected query parameter(s)", as alpaca-py
  0.39.2 found out by sending `limit` (alpacahq/alpaca-py#581);
- on the server's free plan (`server.free_plan`), a `feed=sip` request is 403 "subscription does not permit querying
  recent SIP data": the latest prices are always the latest 15 minutes, real-time SIP (Algo Trader Plus) only;
- `empty_next()` answers the next request with no body at all (a 204, the same empty text to alpaca-py
  as a proxy's empty 200); 429 and 5xx come from the server's own `fail_next`/`fail_route`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from tests.fakes.alpaca_server import FakeAlpacaServer, FakeRequest, FakeResponse

_ALLOWED = {"symbols", "feed", "currency"}


class FakeLatestPrices:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.trades: dict[str, dict[str, Any]] = {}
        self.quotes: dict[str, dict[str, Any]] = {}
        self._empty = 0
        self._server: FakeAlpacaServer | None = None

    @classmethod
    def install(cls, server: FakeAlpacaServer) -> FakeLatestPrices:
        latest = cls()
        latest._server = server
        server.route("GET", r"/v2/stocks/trades/latest", latest._latest_trades)
        server.route("GET", r"/v2/stocks/quotes/latest", latest._latest_quotes)
        return latest

    def set_trade(self, symbol: str, price: float | str, at: datetime) -> None:
        """`symbol`'s latest trade: `price` (a string is served as one) at instant `at`."""
        with self._lock:
            self.trades[symbol] = {
                "t": _rfc3339(at),
                "x": "V",
                "p": price,
                "s": 100,
                "c": ["@"],
                "i": 52983525029461,
                "z": "B",
            }

    def set_quote(self, symbol: str, bid: float, ask: float, at: datetime) -> None:
        """`symbol`'s latest quote; a 0 side is served as Alpaca serves it, as 0."""
        with self._lock:
            self.quotes[symbol] = {
                "t": _rfc3339(at),
                "ax": "V",
                "ap": ask,
                "as": 2,
                "bx": "V",
                "bp": bid,
                "bs": 3,
                "c": ["R"],
                "z": "B",
            }

    def empty_next(self, times: int = 1) -> None:
        with self._lock:
            self._empty += times

    def _latest_trades(self, request: FakeRequest) -> FakeResponse:
        return self._answer(request, "trades", self.trades)

    def _latest_quotes(self, request: FakeRequest) -> FakeResponse:
        return self._answer(request, "quotes", self.quotes)

    def _answer(self, request: FakeRequest, key: str, table: dict[str, dict[str, Any]]) -> FakeResponse:
        unexpected = sorted(set(request.query) - _ALLOWED)
        if unexpected:
            return FakeResponse(
                HTTPStatus.BAD_REQUEST, {"message": f"unexpected query parameter(s): {', '.join(unexpected)}"}
            )
        symbols = [s for s in request.query.get("symbols", "").split(",") if s]
        if not symbols:
            return FakeResponse(HTTPStatus.BAD_REQUEST, {"message": "missing symbols"})
        if self._server is not None and self._server.free_plan and request.query.get("feed") == "sip":
            return FakeResponse(
                HTTPStatus.FORBIDDEN, {"message": "subscription does not permit querying recent SIP data"}
            )
        with self._lock:
            if self._empty:
                self._empty -= 1
                return FakeResponse(HTTPStatus.NO_CONTENT, None)
            found = {s: dict(table[s]) for s in symbols if s in table}
        return FakeResponse(HTTPStatus.OK, {key: found})


def _rfc3339(at: datetime) -> str:
    # Alpaca sends nanoseconds; the last three digits are never zero in real answers.
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
