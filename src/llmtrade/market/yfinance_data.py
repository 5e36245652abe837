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
from llmtrade.errors import MarketDataUnavailable
from llmtrade.market.validation import BarProblem, ProblemKind, SeriesRejected


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
    # A multi-symbol download pads each symbol with all-NaN rows on the dates only another symbol has
    # (and Yahoo sometimes sends an all-NaN twin of the latest row): those rows are "no bar", and a
    # session left without one is then reported by the validator as missing. A row with only some
    # prices NaN is a broken bar, and rejects the series.
    table = table.dropna(how="all", subset=["Open", "High", "Low", "Close"])
    if table.empty:
        raise MarketDataUnavailable(f"yfinance returned nothing for {symbol}")
    bars = []
    for stamp, row in table.iterrows():
        day = _session_day(stamp)
        volume = row.get("Volume", 0)
        try:
            bars.append(
                Bar(
                    symbol=symbol,
                    day=day,
                    open=float(row["Open"]),
                    high=float(row["High"]),
                    low=float(row["Low"]),
                    close=float(row["Close"]),
                    volume=float(0 if volume is None else volume),
                    source="yfinance",
                )
            )
        except ValidationError as exc:
            problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}".lstrip(": ") for e in exc.errors())
            kind = (
                ProblemKind.BAD_VOLUME if all(e["loc"] == ("volume",) for e in exc.errors()) else ProblemKind.BAD_PRICE
            )
            raise SeriesRejected(
                [BarProblem(symbol=symbol, kind=kind, days=[day], reason=f"{day}: unusable yfinance bar: {problem}")]
            ) from None
    return bars


def _session_day(stamp: Any) -> date:
    """The New York session date of a yfinance index stamp.

    Daily stamps are usually midnight in the exchange's zone, but some yfinance versions and Yahoo
    answers carry UTC stamps; the UTC date of an evening instant is the next day, so read it in New York.
    """
    if getattr(stamp, "tzinfo", None) is not None:
        return stamp.tz_convert("America/New_York").date()
    return stamp.date()
