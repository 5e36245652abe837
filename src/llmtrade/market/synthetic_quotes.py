"""Intraday prices of the synthetic market: its daily bars walked minute by minute (intraday_path.py).

Consistent with the daily bars by construction: the 09:30 price is the day's open, the path touches the
day's high and low and ends at its close, so a checkpoint's quote and the evening's bar never disagree.
"""

from __future__ import annotations

from datetime import date, datetime

from llmtrade.domain.market import Bar, Quote
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.market.intraday_path import Plan, PlanKey, day_plans, plan_keys, point_at, prices_at, session_minutes
from llmtrade.market.quote_provider import quote_of
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

    def never_in_session(self, symbols: list[str], now: datetime | None) -> dict[str, str]:
        return {}  # its minute path prices every session

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
            quotes[symbol] = quote_of(symbol, price, at, self.name, "synthetic-path", synthetic=True)
        return quotes

    def path_keys(self, symbols: list[str], days: list[date]) -> list[list[PlanKey]]:
        """What `latest` plans on `days` (sessions) for `symbols`, by day: market/paths_ahead.py plans them ahead."""
        if not days:
            return []
        bars = self._market.daily_bars(symbols, min(days), max(days))
        by_day: dict[date, list[Bar]] = {}
        for symbol in symbols:
            for bar in bars.get(symbol) or []:
                by_day.setdefault(bar.day, []).append(bar)
        keys = []
        for day in days:
            minutes = session_minutes(self._calendar.session_open(day), self._calendar.session_close(day))
            keys.append(plan_keys(by_day.get(day, []), minutes, self._seed))
        return keys
