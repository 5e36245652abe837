"""A market that cannot see past an instant: what the look-ahead audit replays a job with.

Three walls, so a leak through any is caught: every provider is wrapped to drop bars after the cutoff
day, the service itself clamps every range it is asked for to end on that day, and its bar cache, which
holds the whole backtest's prefetched history, answers no read past it either (a stage reading the cache
directly, around the service's clamp, saw the real run's later bars in the rerun too, and passed). Nothing
this market fetches is stored: the cache write of a cut-off series would be the audit's only mark on the
database.

A checkpoint inside a session (`opened`: that session) may know the session's open and nothing else of its bar:
the service gives its open (`opening_price`), never its close, and a wrapped provider gives its bar with the open
for high, low and close (`open_only`), so a reader of the rest of the row sees something other than the real run did.
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
    """`inner`'s bars up to and including `cutoff` only; of `opened` (a session open at the cut), its open alone."""

    def __init__(self, inner: BarProvider, cutoff: date, opened: date | None = None):
        self._inner = inner
        self.cutoff = cutoff
        self.opened = opened
        self.name = inner.name
        self.synthetic = inner.synthetic

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        last = self.cutoff if self.opened is None else max(self.cutoff, self.opened)
        bars = self._inner.daily_bars(symbols, start, min(end, last))
        seen = {s: [b for b in series if b.day <= self.cutoff or b.day == self.opened] for s, series in bars.items()}
        return {s: [b if b.day <= self.cutoff else open_only(b) for b in series] for s, series in seen.items()}

    def origin(self, symbol: str) -> str | None:
        return self._inner.origin(symbol)

    def incomplete(self, close: datetime) -> str | None:
        return self._inner.incomplete(close)


def open_only(bar: Bar) -> Bar:
    """`bar` as known at its session's open: the open for high, low and close, no volume."""
    return bar.model_copy(update={"high": bar.open, "low": bar.open, "close": bar.open, "volume": 0.0})


class ReadOnlyCache(BarCache):
    """The bar cache, read as far as the cutoff allows (of `opened`, the bar's open alone, as `CutoffProvider`
    gives it); stores and forgets nothing."""

    outlives_process = False  # a backtest's: its files are its record (storage/bar_cache.py)

    def __init__(self, conn: psycopg.Connection, cutoff: date, opened: date | None = None):
        super().__init__(conn)
        self.cutoff = cutoff
        self.opened = opened

    def _seen(self, day: date) -> bool:
        return day <= self.cutoff or day == self.opened

    def read(
        self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool, trusted: bool = False
    ) -> dict[str, list[Bar]]:
        last = self.cutoff if self.opened is None else max(self.cutoff, self.opened)
        if start > last:
            return {s: [] for s in symbols}
        found = super().read(symbols, start, min(end, last), synthetic=synthetic, trusted=trusted)
        return {
            s: [b if b.day <= self.cutoff else open_only(b) for b in rows if self._seen(b.day)]
            for s, rows in found.items()
        }

    def closes(
        self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool
    ) -> dict[str, dict[date, float]]:
        return {
            s: {b.day: b.close for b in rows} for s, rows in self.read(symbols, start, end, synthetic=synthetic).items()
        }

    def count(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> int:
        return sum(len(rows) for rows in self.read(symbols, start, end, synthetic=synthetic).values())

    def first_since(self, symbols: Sequence[str], since: date, *, synthetic: bool) -> dict[str, date]:
        return {
            s: day for s, day in super().first_since(symbols, since, synthetic=synthetic).items() if self._seen(day)
        }

    def store(
        self, bars: Mapping[str, Sequence[Bar]], start: date, end: date, *, provider: str, synthetic: bool
    ) -> None:
        return None

    def forget(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> None:
        return None


class CutoffMarket(MarketData):
    """MarketData whose every read ends at `cutoff` at the latest; of `opened`, the session open at the cut, it
    gives the open."""

    cutoff: date
    opened: date | None

    @classmethod
    def over(
        cls, market: MarketData, conn: psycopg.Connection, cutoff: date, opened: date | None = None
    ) -> CutoffMarket:
        cut = cls(
            [CutoffProvider(p, cutoff, opened) for p in market.providers],
            ReadOnlyCache(conn, cutoff, opened),
            market.calendar,
            market.recording,
        )
        cut.cutoff = cutoff
        cut.opened = opened
        cut.ends = market.ends
        return cut

    def bars(self, symbols: Sequence[str], start: date, end: date) -> BarSeries:
        series = super().bars(symbols, min(start, self.cutoff), min(end, self.cutoff))
        return series

    def opening_price(self, symbol: str, day: date) -> float | None:
        if day > self.cutoff and day != self.opened:
            return None
        return super().opening_price(symbol, day)

    def closing_price(self, symbol: str, day: date) -> float | None:
        if day > self.cutoff:
            return None
        return super().closing_price(symbol, day)
