"""The latest price from Yahoo Finance's 1-minute bars through yfinance, a fallback for live runs.

Yahoo stamps an intraday bar with its START, and its last row during the session is the minute still
being traded (sometimes a row stamped at the second of the latest print). A bar's close is known at its
end, so a bar is used only once its end is at or before now, and the quote is stamped with that end:
kind "bar-close", never later than now. Yahoo keeps 1-minute bars for about 30 days; an older `now` gets
nothing. yfinance does not raise offline either: market/yfinance_wire.py tells an empty answer of Yahoo
not heard (MarketDataUnavailable) from Yahoo with nothing (MarketDataMissing).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from llmtrade.domain.market import Quote
from llmtrade.errors import MarketDataUnavailable
from llmtrade.market.calendar import NEW_YORK, TradingCalendar, new_york_date
from llmtrade.market.failures import few
from llmtrade.market.yfinance_wire import download

_BAR = timedelta(minutes=1)
# How long after the open Yahoo may have no 1-minute bar of the session yet: the first ends at 09:31, and reaches its
# charts a little later.
_FIRST_MINUTES = timedelta(minutes=5)


class YFinanceQuotes:
    name = "yfinance"
    synthetic = False

    def __init__(self, calendar: TradingCalendar, timeout_seconds: float = 15.0, session: Any = None):
        self._calendar = calendar
        self._timeout = timeout_seconds
        # A requests/curl_cffi session for yfinance to use; None lets yfinance make its own (tests pass one
        # whose transport serves Yahoo-shaped answers).
        self._session = session

    def never_in_session(self, symbols: list[str], now: datetime | None) -> dict[str, str]:
        return {}  # its 1-minute bars price every session it lists

    def latest(self, symbols: list[str], now: datetime) -> dict[str, Quote]:
        """The close of each symbol's last 1-minute bar that ended at or before `now`, in today's session."""
        opens = self._calendar.session_open(new_york_date(now))
        frame, wire = download(
            symbols,
            session=self._session,
            start=opens,
            end=now + _BAR,
            interval="1m",
            prepost=False,
            timeout=self._timeout,
        )
        if frame is None or frame.empty:
            what = f"yfinance returned no intraday bars for {few(symbols)}"
            if now - opens < _FIRST_MINUTES:
                # No 1-minute bar has ended yet, or reached Yahoo: it says of every symbol then what it says of one
                # delisted ("possibly delisted; no price data found"). Taken at its word, with Alpaca down at the
                # same moment, a checkpoint at the open exited 1 for what a minute mends.
                at = now.astimezone(NEW_YORK)
                raise MarketDataUnavailable(
                    f"{what} at {at:%H:%M:%S} New York, in the first minutes of the session (no 1-minute bar is "
                    "complete there yet): asked again at the next read"
                )
            raise wire.failure(what, hint="Yahoo keeps 1-minute bars ~30 days")
        quotes: dict[str, Quote] = {}
        for symbol in symbols:
            quote = _last_complete(frame, symbol, now)
            if quote is not None:
                quotes[symbol] = quote
        return quotes


def _last_complete(frame: Any, symbol: str, now: datetime) -> Quote | None:
    if frame.columns.nlevels > 1:
        if symbol not in frame.columns.get_level_values(0):
            return None
        table = frame[symbol]
    else:
        table = frame
    best: Quote | None = None
    for stamp, row in table.iterrows():
        if getattr(stamp, "tzinfo", None) is None:
            continue  # an intraday stamp without a zone cannot be placed in time
        ends = stamp.to_pydatetime() + _BAR
        close = row.get("Close")
        if ends > now or close is None or not math.isfinite(float(close)) or float(close) <= 0:
            continue
        if best is None or ends > best.as_of:
            best = Quote(symbol=symbol, price=round(float(close), 4), as_of=ends, provider="yfinance", kind="bar-close")
    return best
