"""Yahoo Finance at the transport: a requests session whose adapter answers as Yahoo's servers do.

yfinance is used as it is (cookie, crumb, the v8 chart API, its own parsing and clean-up); only the
bytes on the wire are ours. The chart answer follows Yahoo's shape for `interval=1m`: bars stamped with
their START, `meta.tradingPeriods` for the regular session, and, as Yahoo does during the session, a
last row for the minute still being traded. Nothing leaves the process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter


@dataclass
class YahooIntraday:
    """1-minute bars per symbol: (bar start, close); `status` answers every chart request when set."""

    bars: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    session_open: datetime | None = None
    session_close: datetime | None = None
    status: int | None = None
    # Set: every chart request is answered 200 with this body (a consent or maintenance page where JSON belongs).
    page: str | None = None
    # Set: every request goes to this loopback port instead, where nobody listens: requests' own adapter meets
    # a refused connection and raises as it does on a machine without network.
    unreachable_port: int | None = None
    charts: list[dict[str, str]] = field(default_factory=list)  # the chart requests' query parameters
    charted: list[str] = field(default_factory=list)  # the symbol of each chart request, in order
    # Symbols Yahoo knows that have no bar to send (listed but not traded yet, or after the range asked): their chart
    # answers the symbol's meta and no prices (no "timestamp", an empty quote), as Yahoo does (ranaroussi/yfinance#806),
    # where an unknown symbol gets {"error": {"code": "Not Found"}}. yfinance then finds the time zone, and says
    # "possibly delisted; no price data found" of the range.
    listed: set[str] = field(default_factory=set)
    # Set per symbol: that symbol's chart requests alone are answered with this status (Yahoo throttling one request
    # of a batch download while the others go through).
    status_of: dict[str, int] = field(default_factory=dict)
    # Rows Yahoo lists with their volume but no prices yet, (symbol, bar start) each: its chart answers null open, high,
    # low and close there and fills them in hours or days later (ranaroussi/yfinance#2895, #2925, #2930: SPY, QQQ and
    # the indices' sessions of 2026-07-24 and -28, "a valid Volume figure but Open/High/Low/Close came back as null").
    unpriced: set[tuple[str, datetime]] = field(default_factory=set)
    # Rows sent with nothing at all, null prices and volume (symbol, bar start): Yahoo's row for a holiday or a date
    # only another symbol has (ranaroussi/yfinance#713, #413).
    blank: set[tuple[str, datetime]] = field(default_factory=set)

    def session(self) -> requests.Session:
        session = requests.Session()
        adapter = _Adapter(self)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def chart(self, symbol: str) -> dict[str, Any]:
        rows = self.bars.get(symbol) or []
        if not rows and symbol in self.listed:
            return {"chart": {"result": [{"meta": self._meta(symbol), "indicators": {"quote": [{}]}}], "error": None}}
        if not rows:
            return {"chart": {"result": None, "error": {"code": "Not Found", "description": "No data found"}}}
        closes = [price for _, price in rows]
        nothing = self.unpriced | self.blank
        prices = [None if (symbol, start) in nothing else price for start, price in rows]
        volumes = [None if (symbol, start) in self.blank else 1000 for start, _ in rows]
        meta = {
            **self._meta(symbol),
            "regularMarketTime": int(rows[-1][0].timestamp()),
            "regularMarketPrice": closes[-1],
            "chartPreviousClose": closes[0],
        }
        return {
            "chart": {
                "result": [
                    {
                        "meta": meta,
                        "timestamp": [int(start.timestamp()) for start, _ in rows],
                        "indicators": {
                            "quote": [
                                {
                                    "open": prices,
                                    "high": prices,
                                    "low": prices,
                                    "close": prices,
                                    "volume": volumes,
                                }
                            ],
                        },
                    }
                ],
                "error": None,
            }
        }

    def _meta(self, symbol: str) -> dict[str, Any]:
        """The chart answer's "meta" that does not depend on the prices sent."""
        assert self.session_open is not None and self.session_close is not None
        period = {
            "timezone": "EST",
            "start": int(self.session_open.timestamp()),
            "end": int(self.session_close.timestamp()),
            "gmtoffset": -18000,
        }
        return {
            "currency": "USD",
            "symbol": symbol,
            "exchangeName": "PCX",
            "instrumentType": "ETF",
            "firstTradeDate": 728317800,
            "gmtoffset": -18000,
            "timezone": "EST",
            "exchangeTimezoneName": "America/New_York",
            "priceHint": 2,
            "currentTradingPeriod": {
                "pre": {**period, "start": period["start"] - 19800, "end": period["start"]},
                "regular": period,
                "post": {**period, "start": period["end"], "end": period["end"] + 14400},
            },
            "tradingPeriods": [[period]],
            "dataGranularity": "1m",
            "range": "",
            "validRanges": ["1d", "5d", "1mo"],
        }


class _Adapter(BaseAdapter):
    def __init__(self, yahoo: YahooIntraday):
        super().__init__()
        self.yahoo = yahoo

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        if self.yahoo.unreachable_port is not None:
            request.url = url._replace(scheme="http", netloc=f"127.0.0.1:{self.yahoo.unreachable_port}").geturl()
            return HTTPAdapter().send(request, **kwargs)
        if url.hostname == "fc.yahoo.com":
            return _response(request, 404, "")  # Yahoo answers 404 but sets the cookie
        if url.path == "/v1/test/getcrumb":
            return _response(request, 200, "fake-crumb")
        if url.path.startswith("/v8/finance/chart/"):
            symbol = url.path.rsplit("/", 1)[1]
            self.yahoo.charts.append({k: v[-1] for k, v in parse_qs(url.query).items()})
            self.yahoo.charted.append(symbol)
            status = self.yahoo.status_of.get(symbol, self.yahoo.status)
            if status is not None:
                return _response(request, status, "Too Many Requests" if status == 429 else "")
            if self.yahoo.page is not None:
                return _response(request, 200, self.yahoo.page)
            return _response(request, 200, json.dumps(self.yahoo.chart(symbol)))
        return _response(request, 404, "")

    def close(self) -> None:
        pass


def _response(request: requests.PreparedRequest, status: int, body: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode()
    response.headers["Content-Type"] = "application/json" if body.startswith("{") else "text/plain"
    response.url = request.url or ""
    response.request = request
    response.encoding = "utf-8"
    return response


def minute_bars(start: datetime, count: int, first: float, step: float) -> list[tuple[datetime, float]]:
    """`count` 1-minute bars from `start`, closing at first, first + step, ..."""
    return [(start + timedelta(minutes=k), round(first + k * step, 4)) for k in range(count)]
