"""Intraday prices of the synthetic market: its daily bars walked minute by minute (intraday_path.py).

Consistent with the daily bars by construction: the 09:30 price is the day's open, the path touches the
day's high and low and ends at its close, so a checkpoint's quote and the evening's bar never disagree.
"""

from __future__ import annotations

import math
from datetime import date, datetime

from llmtrade.domain.market import Quote
from llmtrade.domain.records import assembled
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.market.intraday_path import Plan, day_plans, point_at, prices_at, session_minutes
from llmtrade.market.synthetic import SyntheticMarket


class SyntheticQuotes:
    name = "synthetic"
    synthetic = True

    def __init__(self, market: SyntheticMarket, calendar: TradingCalendar, seed: int = 7):
        self._market = market
        self._calendar = calendar
        self._seed = str(seed)
        # The last day quoted, for the symbols asked: its session's minutes, the symbols with a bar, their plans.
        self._day: tuple[tuple[date, tuple[str, ...]], int, list[str], list[Plan]] | None = None

    def latest(self, symbols: list[str], now: datetime) -> dict[str, Quote]:
        """The path's price at the last minute mark at or before `now` (the open at 09:30:00)."""
        day = new_york_date(now)
        opens = self._calendar.session_open(day)
        asked = (day, tuple(symbols))
        kept = self._day
        if kept is not None and kept[0] == asked:
            _, minutes, listed, plans = kept
        else:
            minutes = session_minutes(opens, self._calendar.session_close(day))
            bars = self._market.daily_bars(symbols, day, day)
            listed = [symbol for symbol in symbols for _ in bars.get(symbol) or []]
            # Every symbol's day planned together: at a day's first quote their draws are made in one pass.
            plans = day_plans([bar for symbol in symbols for bar in bars.get(symbol) or []], minutes, self._seed)
            # The day's bars and plans depend on the day alone: its other checkpoints price them at their minute.
            self._day = (asked, minutes, listed, plans)
        index, at = point_at(opens, minutes, now)  # one minute mark for every symbol asked
        prices = prices_at(plans, index)
        quotes: dict[str, Quote] = {}
        for symbol, price in zip(listed, prices, strict=True):
            quotes[symbol] = path_quote(symbol, price, at, self.name)
        return quotes


# The fields a path quote sets (as `Quote(symbol=..., price=..., as_of=..., provider=..., kind=..., synthetic=True)`).
_PATH_SET = frozenset(("symbol", "price", "as_of", "provider", "kind", "synthetic"))


def path_quote(symbol: str, price: float, at: datetime, provider: str) -> Quote:
    """`Quote(symbol=symbol, price=price, as_of=at, provider=provider, kind="synthetic-path", synthetic=True)`: built
    without validation when the values are what it would keep as they are (a str symbol and provider, a positive
    finite float, an aware datetime), else validated (and refused as it refuses). Seven a checkpoint, every one."""
    if (
        type(symbol) is str
        and type(provider) is str
        and type(price) is float
        and 0.0 < price < math.inf
        and type(at) is datetime
        and at.utcoffset() is not None
    ):
        values = {
            "symbol": symbol,
            "price": price,
            "as_of": at,
            "provider": provider,
            "kind": "synthetic-path",
            "approximation": False,
            "synthetic": True,
        }
        return assembled(Quote, values, set(_PATH_SET))
    return Quote(symbol=symbol, price=price, as_of=at, provider=provider, kind="synthetic-path", synthetic=True)
