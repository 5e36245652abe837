"""Daily bars from Yahoo Finance through yfinance, a fallback for live runs.

yfinance does not raise when it cannot reach its server: `download` returns an empty frame (and
prints to stderr). An empty answer is therefore a failure here, so the service falls back or
stops instead of running the committee on no data.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pydantic import ValidationError

from llmtrade.domain.market import Bar
from llmtrade.errors import MarketDataError, MarketDataUnavailable


class YFinanceProvider:
    name = "yfinance"
    synthetic = False

    def __init__(self, timeout_seconds: float = 15.0):
        self._timeout = timeout_seconds

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        import yfinance  # lazy: yfinance pulls in pandas and curl_cffi; keeps CLI start-up fast

        try:
            frame = yfinance.download(
                symbols,
                start=start.isoformat(),
                end=(end + timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
                interval="1d",
                auto_adjust=False,
                actions=False,
                progress=False,
                threads=False,
                group_by="ticker",
                timeout=self._timeout,
            )
        except Exception as exc:  # yfinance wraps network trouble in many exception types
            raise MarketDataUnavailable(f"yfinance failed: {type(exc).__name__}: {exc}") from exc
        if frame is None or frame.empty:
            raise MarketDataUnavailable(
                "yfinance returned no data (it answers offline or unknown symbols with nothing)"
            )
        return {symbol: _bars(frame, symbol) for symbol in symbols}


def _bars(frame: Any, symbol: str) -> list[Bar]:
    # group_by="ticker" gives (ticker, field) columns; older yfinance gives flat ones for one symbol.
    if frame.columns.nlevels > 1:
        if symbol not in frame.columns.get_level_values(0):
            raise MarketDataUnavailable(f"yfinance returned nothing for {symbol}")
        table = frame[symbol]
    else:
        table = frame
    table = table.dropna(subset=["Open", "High", "Low", "Close"])
    if table.empty:
        raise MarketDataUnavailable(f"yfinance returned nothing for {symbol}")
    bars = []
    for stamp, row in table.iterrows():
        try:
            bars.append(
                Bar(
                    symbol=symbol,
                    day=stamp.date(),
                    open=float(row["Open"]),
                    high=float(row["High"]),
                    low=float(row["Low"]),
                    close=float(row["Close"]),
                    volume=float(row.get("Volume", 0) or 0),
                    source="yfinance",
                )
            )
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"]
            raise MarketDataError(f"yfinance bar for {symbol} on {stamp.date()} is unusable: {problem}") from None
    return bars
