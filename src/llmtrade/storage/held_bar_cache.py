"""A bar cache on a database no other process writes (a backtest's), held in memory once read.

Contract: every answer is the one storage/bar_cache.py's BarCache would give from the database at that moment
(reads stay exactly as point-in-time as the queries they replace); `store` and `forget` write through and drop
what they touch; `kept` returns a validated read only while no bar was written since.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

from llmtrade.domain.market import Bar
from llmtrade.storage.bar_cache import BarCache, KeptRead, ReadKey

if TYPE_CHECKING:
    import psycopg


_READS_KEPT = 128


class HeldBarCache(BarCache):
    """A bar cache on a database no other process writes (a backtest's), held in memory once read.

    Each symbol's cached bars and recorded fetches are read once, then every `covers` and `read` is
    answered from memory (a range is a bisect of the symbol's days, so a read costs its bars, not the
    history); `store` and `forget` write through and drop what they touch. The answers are the ones the
    database would give, so reads stay exactly as point-in-time as the queries they replace."""

    outlives_process = False

    def __init__(self, conn: psycopg.Connection):
        super().__init__(conn)
        self._bars: dict[tuple[bool, str], tuple[list[date], list[Bar]]] = {}
        self._fetches: dict[tuple[bool, str], list[tuple[date, date]]] = {}
        self._vouched: set[tuple[bool, tuple[str, ...], date, date]] = set()
        # Per symbol, the ranges whose bars passed validation (what `vouch` was told), for `vouched`'s sub-ranges.
        self._spans: dict[tuple[bool, str], list[tuple[date, date]]] = {}
        # The market service's last reads, validated: a backtest's checkpoints of a day read each held symbol's same
        # window (and the universe's last closes) again and again. Dropped whole by any write of bars.
        self._reads: dict[ReadKey, KeptRead] = {}

    def kept(self, key: ReadKey) -> KeptRead | None:
        """The read `keep` was given for `key`: no bar was stored or forgotten since (every write here drops them
        all), and no other process writes this database, so reading again would give the very same bars."""
        return self._reads.get(key)

    def keep(self, key: ReadKey, answer: KeptRead) -> None:
        if len(self._reads) >= _READS_KEPT:
            self._reads.clear()  # a backtest's windows slide a day at a time: the old ones are not asked again
        self._reads[key] = answer

    def vouched(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> bool:
        """True for a range vouched for, and for any range inside one vouched for each symbol where the
        symbol has a bar: validation (market/validation.py) judges each symbol alone, and a range that
        passed has no bad bar, no duplicate, no bar off a session and no session missing from its first
        bar to its end, so neither has any part of it that holds a bar (a part with none would be stale:
        that one is checked as asked). A backtest's daily reads slide a window over the range it fetched."""
        if (synthetic, tuple(symbols), start, end) in self._vouched:
            return True
        for symbol in set(symbols):
            spans = self._spans.get((synthetic, symbol), ())
            if not any(first <= start and end <= last for first, last in spans):
                return False
            days, _ = self._series(symbol, synthetic)
            if bisect_left(days, start) >= bisect_right(days, end):
                return False
        return True

    def vouch(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> None:
        self._vouched.add((synthetic, tuple(symbols), start, end))
        for symbol in set(symbols):
            self._spans.setdefault((synthetic, symbol), []).append((start, end))

    def coverage(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> tuple[bool, bool]:
        covered = self.covers(symbols, start, end, synthetic=synthetic)
        return covered, covered and self.vouched(symbols, start, end, synthetic=synthetic)

    def covers(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> bool:
        return all(
            any(first <= start and last >= end for first, last in self._fetched(symbol, synthetic))
            for symbol in set(symbols)
        )

    def read(
        self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool, trusted: bool = False
    ) -> dict[str, list[Bar]]:
        out: dict[str, list[Bar]] = {}
        for symbol in symbols:
            days, bars = self._series(symbol, synthetic)
            out[symbol] = bars[bisect_left(days, start) : bisect_right(days, end)]
        return out

    def store(
        self, bars: Mapping[str, Sequence[Bar]], start: date, end: date, *, provider: str, synthetic: bool
    ) -> None:
        """Write through; a symbol the database held no bar of (of this kind) then holds exactly the bars given, so
        they are kept as its series instead of read back: a backtest's prefetch stores some 33,000 bars, and
        reading them back built each again (the prefetch: 1.5 -> 1.1 CPU seconds at 520 weeks)."""
        fresh = self._without_bars(bars, synthetic)
        super().store(bars, start, end, provider=provider, synthetic=synthetic)
        self._drop(bars, synthetic)
        for symbol in fresh:
            # A later bar of the same day wins, as the upsert has it; the series in day order, as a read gives it.
            by_day = {bar.day: bar for bar in bars[symbol]}
            days = sorted(by_day)
            self._bars[(synthetic, symbol)] = (days, [by_day[day] for day in days])

    def _without_bars(self, bars: Mapping[str, Sequence[Bar]], synthetic: bool) -> list[str]:
        """The symbols of `bars` (each of its own symbol and kind) of which the database holds no bar of this kind."""
        own = [s for s, series in bars.items() if all(b.symbol == s and b.synthetic == synthetic for b in series)]
        if not own:
            return []
        rows = self._conn.execute(
            "SELECT DISTINCT symbol FROM market_bars WHERE synthetic = %s AND symbol = ANY(%s)", (synthetic, own)
        ).fetchall()
        held = {str(row[0]) for row in rows}
        return [s for s in own if s not in held]

    def forget(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> None:
        super().forget(symbols, start, end, synthetic=synthetic)
        self._drop(symbols, synthetic)

    def _drop(self, symbols: Iterable[str], synthetic: bool) -> None:
        names = set(symbols)
        self._reads.clear()
        self._vouched = {v for v in self._vouched if v[0] != synthetic or not set(v[1]) & names}
        for symbol in names:
            self._spans.pop((synthetic, symbol), None)
            self._bars.pop((synthetic, symbol), None)
            self._fetches.pop((synthetic, symbol), None)

    def _fetched(self, symbol: str, synthetic: bool) -> list[tuple[date, date]]:
        key = (synthetic, symbol)
        if key not in self._fetches:
            rows = self._conn.execute(
                "SELECT start_day, end_day FROM market_fetches WHERE synthetic = %s AND symbol = %s",
                (synthetic, symbol),
            ).fetchall()
            self._fetches[key] = [(first, last) for first, last in rows]
        return self._fetches[key]

    def _series(self, symbol: str, synthetic: bool) -> tuple[list[date], list[Bar]]:
        key = (synthetic, symbol)
        if key not in self._bars:
            bars = BarCache.read(self, [symbol], date.min, date.max, synthetic=synthetic)[symbol]
            self._bars[key] = ([b.day for b in bars], bars)
        return self._bars[key]
