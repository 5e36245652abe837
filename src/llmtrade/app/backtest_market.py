"""A market that cannot see past a day: what the look-ahead audit replays a week's run with.

Two walls, so a leak through either is caught: every provider is wrapped to drop bars after the cutoff
day, and the service itself clamps every range it is asked for to end on that day (so the bar cache,
which holds the whole backtest's prefetched history, is never read past it either). Nothing this market
fetches is stored: the cache write of a cut-off series would be the audit's only mark on the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from llmtrade.domain.market import Bar
from llmtrade.market.provider import BarProvider
from llmtrade.market.service import BarSeries, MarketData
from llmtrade.storage.bar_cache import BarCache

if TYPE_CHECKING:
    import psycopg


class CutoffProvider:
    """`inner`'s bars up to and including `cutoff` only."""

    def __init__(self, inner: BarProvider, cutoff: date):
        self._inner = inner
        self.cutoff = cutoff
        self.name = inner.name
        self.synthetic = inner.synthetic

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        bars = self._inner.daily_bars(symbols, start, min(end, self.cutoff))
        return {s: [b for b in series if b.day <= self.cutoff] for s, series in bars.items()}

    def origin(self, symbol: str) -> str | None:
        return self._inner.origin(symbol)

    def incomplete(self, close: datetime) -> str | None:
        return self._inner.incomplete(close)


class ReadOnlyCache(BarCache):
    """The bar cache, read as far as the cutoff allows; stores and forgets nothing."""

    outlives_process = False  # a backtest's: its files are its record (storage/bar_cache.py)

    def store(
        self, bars: Mapping[str, Sequence[Bar]], start: date, end: date, *, provider: str, synthetic: bool
    ) -> None:
        return None

    def forget(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> None:
        return None


class CutoffMarket(MarketData):
    """MarketData whose every read ends at `cutoff` at the latest."""

    cutoff: date

    @classmethod
    def over(cls, market: MarketData, conn: psycopg.Connection, cutoff: date) -> CutoffMarket:
        cut = cls(
            [CutoffProvider(p, cutoff) for p in market.providers],
            ReadOnlyCache(conn),
            market.calendar,
            market.recording,
        )
        cut.cutoff = cutoff
        cut.ends = market.ends
        return cut

    def bars(self, symbols: Sequence[str], start: date, end: date) -> BarSeries:
        series = super().bars(symbols, min(start, self.cutoff), min(end, self.cutoff))
        return series

    def opening_price(self, symbol: str, day: date) -> float | None:
        if day > self.cutoff:
            return None
        return super().opening_price(symbol, day)

    def closing_price(self, symbol: str, day: date) -> float | None:
        if day > self.cutoff:
            return None
        return super().closing_price(symbol, day)
