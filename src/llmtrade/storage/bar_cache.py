"""The PostgreSQL cache of daily bars: upserted, and asked first, so a range is fetched once.

A range recorded in market_fetches is a promise that the bars in it are complete: `store` is only
ever called with bars that passed market.validation for exactly that range (the market service
guarantees it). A range found wanting later (a row written before validation existed) is dropped
with `forget` (bars and records), so the next read asks the provider again instead of trusting the hole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

from llmtrade.domain.market import Bar

if TYPE_CHECKING:
    import psycopg


class BarCache:
    def __init__(self, conn: psycopg.Connection):
        self._conn = conn

    def covers(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> bool:
        """True when one earlier fetch covered the whole range for every symbol."""
        row = self._conn.execute(
            """SELECT count(DISTINCT symbol) FROM market_fetches
               WHERE synthetic = %s AND symbol = ANY(%s) AND start_day <= %s AND end_day >= %s""",
            (synthetic, list(symbols), start, end),
        ).fetchone()
        return row is not None and row[0] == len(set(symbols))

    def forget(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> None:
        """Drop the bars of these symbols in start..end and every recorded fetch overlapping that range.

        Both go: a bad bar left behind (a Sunday bar from a timezone shift) would fail every later read,
        and a fetch record left overlapping the range would vouch for bars no longer there.
        """
        with self._conn.transaction():
            self._conn.execute(
                """DELETE FROM market_fetches
                   WHERE synthetic = %s AND symbol = ANY(%s) AND start_day <= %s AND end_day >= %s""",
                (synthetic, list(symbols), end, start),
            )
            self._conn.execute(
                "DELETE FROM market_bars WHERE synthetic = %s AND symbol = ANY(%s) AND day BETWEEN %s AND %s",
                (synthetic, list(symbols), start, end),
            )

    def store(
        self, bars: Mapping[str, Sequence[Bar]], start: date, end: date, *, provider: str, synthetic: bool
    ) -> None:
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO market_bars (synthetic, symbol, day, open, high, low, close, volume, source)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (synthetic, symbol, day) DO UPDATE SET open = excluded.open, high = excluded.high,
                       low = excluded.low, close = excluded.close, volume = excluded.volume,
                       source = excluded.source, fetched_at = now()""",
                [
                    (b.synthetic, b.symbol, b.day, b.open, b.high, b.low, b.close, b.volume, b.source)
                    for series in bars.values()
                    for b in series
                ],
            )
            cur.executemany(
                """INSERT INTO market_fetches (synthetic, symbol, start_day, end_day, provider)
                   VALUES (%s, %s, %s, %s, %s)""",
                [(synthetic, symbol, start, end, provider) for symbol in bars],
            )

    def read(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> dict[str, list[Bar]]:
        rows = self._conn.execute(
            """SELECT symbol, day, open, high, low, close, volume, source FROM market_bars
               WHERE synthetic = %s AND symbol = ANY(%s) AND day BETWEEN %s AND %s ORDER BY symbol, day""",
            (synthetic, list(symbols), start, end),
        ).fetchall()
        out: dict[str, list[Bar]] = {s: [] for s in symbols}
        for symbol, day, open_, high, low, close, volume, source in rows:
            out[symbol].append(
                Bar(
                    symbol=symbol,
                    day=day,
                    open=open_,
                    high=high,
                    low=low,
                    close=close,
                    volume=volume,
                    source=source,
                    synthetic=synthetic,
                )
            )
        return out
