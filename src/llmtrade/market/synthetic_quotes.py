"""Intraday prices of the synthetic market: its daily bars walked minute by minute (intraday_path.py).

Consistent with the daily bars by construction: the 09:30 price is the day's open, the path touches the
day's high and low and ends at its close, so a checkpoint's quote and the evening's bar never disagree.
"""

from __future__ import annotations

from datetime import datetime

from llmtrade.domain.market import Quote
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.market.intraday_path import bridge_prices, point_at, session_minutes
from llmtrade.market.synthetic import SyntheticMarket


class SyntheticQuotes:
    name = "synthetic"
    synthetic = True

    def __init__(self, market: SyntheticMarket, calendar: TradingCalendar, seed: int = 7):
        self._market = market
        self._calendar = calendar
        self._seed = str(seed)

    def latest(self, symbols: list[str], now: datetime) -> dict[str, Quote]:
        """The path's price at the last minute mark at or before `now` (the open at 09:30:00)."""
        day = new_york_date(now)
        opens, closes = self._calendar.session_open(day), self._calendar.session_close(day)
        minutes = session_minutes(opens, closes)
        bars = self._market.daily_bars(symbols, day, day)
        index, at = point_at(opens, minutes, now)  # one minute mark for every symbol asked
        listed = [(symbol, bar) for symbol in symbols for bar in bars.get(symbol) or []]
        # Every symbol's day priced together: at a day's first quote their draws are made in one pass.
        prices = bridge_prices([bar for _, bar in listed], minutes, self._seed, index)
        quotes: dict[str, Quote] = {}
        for (symbol, _), price in zip(listed, prices, strict=True):
            quotes[symbol] = Quote(
                symbol=symbol, price=price, as_of=at, provider=self.name, kind="synthetic-path", synthetic=True
            )
        return quotes
