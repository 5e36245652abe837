"""The PostgreSQL cache of daily bars: upserted, and asked first, so a range is fetched once.

A range recorded in market_fetches is a promise that the bars in it are complete: `store` is only
ever called with bars that passed market.validation for exactly that range (the market service
guarantees it). A range found wanting later (a row written before validation existed) is dropped
with `forget` (bars and records), so the next read asks the provider again instead of trusting the hole.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from llmtrade.domain.market import Bar, trusted_bar

if TYPE_CHECKING:
    import psycopg


_COLUMNS = "synthetic, symbol, day, open, high, low, close, volume, source"
# Binary: PostgreSQL parses no float from text and psycopg formats none (53,025 bars: 0.30 -> 0.10 s of the server's
# CPU and 0.12 -> 0.02 s of ours for a range no bar of which is cached, written straight in; the same rows).
_TYPES = ["boolean", "text", "date", "float8", "float8", "float8", "float8", "float8", "text"]
_OVERLAP = """SELECT EXISTS (SELECT 1 FROM market_bars
                             WHERE synthetic = ANY(%s) AND symbol = ANY(%s) AND day BETWEEN %s AND %s)"""


# What the market service asked of the cache (provider, symbols, first and last day, synthetic) and what it made of
# the answer (each symbol's bars, their sources joined): see `BarCache.kept`.
ReadKey = tuple[str, tuple[str, ...], date, date, bool]
KeptRead = tuple[dict[str, list[Bar]], str]


def row_of(b: Bar) -> tuple[Any, ...]:
    """A bar as a row of market_bars (_COLUMNS' order)."""
    return (b.synthetic, b.symbol, b.day, b.open, b.high, b.low, b.close, b.volume, b.source)


def rows_of(bars: Mapping[str, Sequence[Bar]]) -> Collection[tuple[Any, ...]]:
    """The rows `store` writes for `bars`: one per (synthetic, symbol, day), a later bar of the same key winning.
    Validated series (each symbol's bars its own, days strictly ascending: what the market service stores) have no
    key twice: their rows are listed in order without a dictionary of keys (a backtest stores some 290,000)."""
    for symbol, series in bars.items():
        previous = date.min
        for bar in series:
            if bar.symbol != symbol or bar.day <= previous:
                return {(b.synthetic, b.symbol, b.day): row_of(b) for s in bars.values() for b in s}.values()
            previous = bar.day
    return [row_of(bar) for series in bars.values() for bar in series]


def _copy(cur: psycopg.Cursor[Any], table: str, rows: Iterable[tuple[Any, ...]]) -> None:
    with cur.copy(f"COPY {table} ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_TYPES)
        for row in rows:
            copy.write_row(row)


class BarCache:
    # Its bars outlive this process: a later run reads them, by when a file they came from may have been rewritten
    # (market/rewritten.py). HeldBarCache's (storage/held_bar_cache.py), a backtest's, whose files are its record,
    # do not.
    outlives_process = True

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

    def coverage(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> tuple[bool, bool]:
        """(`covers`, `vouched`) of the range in one statement: the market service asks both of every cached read, a
        run's many reads of the same ranges each paying one round trip more when asked apart."""
        row = self._conn.execute(
            """SELECT (SELECT count(DISTINCT symbol) FROM market_fetches
                       WHERE synthetic = %(s)s AND symbol = ANY(%(x)s) AND start_day <= %(a)s AND end_day >= %(b)s),
                      (SELECT count(DISTINCT symbol) FROM market_vouched
                       WHERE synthetic = %(s)s AND symbol = ANY(%(x)s) AND start_day <= %(a)s AND end_day >= %(b)s)""",
            {"s": synthetic, "x": list(symbols), "a": start, "b": end},
        ).fetchone()
        wanted = len(set(symbols))
        return (row is not None and row[0] == wanted, row is not None and row[0] == wanted and row[1] == wanted)

    def vouched(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> bool:
        """Whether every symbol's bars in this range, as read from here, already passed validation: a vouched
        range (market_vouched) holds it. Every write of bars (`store`, `forget`) drops the vouches it overlaps."""
        row = self._conn.execute(
            """SELECT count(DISTINCT symbol) FROM market_vouched
               WHERE synthetic = %s AND symbol = ANY(%s) AND start_day <= %s AND end_day >= %s""",
            (synthetic, list(symbols), start, end),
        ).fetchone()
        return row is not None and row[0] == len(set(symbols))

    def vouch(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> None:
        """The range, as read from here, passed validation."""
        with self._conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO market_vouched (synthetic, symbol, start_day, end_day) VALUES (%s, %s, %s, %s)
                   ON CONFLICT DO NOTHING""",
                [(synthetic, symbol, start, end) for symbol in dict.fromkeys(symbols)],
            )

    def kept(self, key: ReadKey) -> KeptRead | None:
        """A read the market service made of this cache earlier (`keep`), when it is sure to read the same now;
        always None here: another process may write the database between two reads (HeldBarCache keeps them)."""
        return None

    def keep(self, key: ReadKey, answer: KeptRead) -> None:
        """Remember a read that passed validation, for `kept` (nothing here: see `kept`)."""

    def holds_bars(self) -> bool:
        """Whether the cache holds any bar at all."""
        row = self._conn.execute("SELECT EXISTS (SELECT 1 FROM market_bars)").fetchone()
        return bool(row and row[0])

    def spans(self, *, synthetic: bool) -> dict[str, list[tuple[date, date]]]:
        """Each symbol's recorded fetches (first and last day): the days whose bars the cache holds every one of."""
        rows = self._conn.execute(
            "SELECT symbol, start_day, end_day FROM market_fetches WHERE synthetic = %s ORDER BY symbol, start_day",
            (synthetic,),
        ).fetchall()
        out: dict[str, list[tuple[date, date]]] = {}
        for symbol, first, last in rows:
            out.setdefault(symbol, []).append((first, last))
        return out

    def count(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> int:
        """How many bars of these symbols the cache holds in start..end (one indexed count, no rows read)."""
        row = self._conn.execute(
            "SELECT count(*) FROM market_bars WHERE synthetic = %s AND symbol = ANY(%s) AND day BETWEEN %s AND %s",
            (synthetic, list(dict.fromkeys(symbols)), start, end),
        ).fetchone()
        return int(row[0]) if row else 0

    def closes(
        self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool
    ) -> dict[str, dict[date, float]]:
        """Each symbol's cached closes in start..end, whether or not one fetch spanned the range (a day missing is
        missing from the answer): one indexed read of three columns, no Bar built."""
        rows = self._conn.execute(
            """SELECT symbol, day, close FROM market_bars
               WHERE synthetic = %s AND symbol = ANY(%s) AND day BETWEEN %s AND %s""",
            (synthetic, list(dict.fromkeys(symbols)), start, end),
        ).fetchall()
        out: dict[str, dict[date, float]] = {s: {} for s in symbols}
        for symbol, day, close in rows:
            out[symbol][day] = close
        return out

    def first_since(self, symbols: Sequence[str], since: date, *, synthetic: bool) -> dict[str, date]:
        """Each symbol's first cached bar on or after `since` (a symbol with none is not in the answer): one indexed
        read, no bar built."""
        rows = self._conn.execute(
            """SELECT symbol, min(day) FROM market_bars
               WHERE synthetic = %s AND symbol = ANY(%s) AND day >= %s GROUP BY symbol""",
            (synthetic, list(dict.fromkeys(symbols)), since),
        ).fetchall()
        return {symbol: day for symbol, day in rows}

    def _unvouch(self, symbols: Iterable[str], start: date, end: date, *, synthetic: bool) -> None:
        self._conn.execute(
            """DELETE FROM market_vouched
               WHERE synthetic = %s AND symbol = ANY(%s) AND start_day <= %s AND end_day >= %s""",
            (synthetic, list(symbols), end, start),
        )

    def stored_at(self, symbol: str, day: date, *, synthetic: bool) -> datetime | None:
        """When `symbol`'s bar of `day` was last stored (the database's clock, real time); None when none is."""
        row = self._conn.execute(
            "SELECT fetched_at FROM market_bars WHERE synthetic = %s AND symbol = %s AND day = %s",
            (synthetic, symbol, day),
        ).fetchone()
        return None if row is None else row[0]

    def stored_before(
        self, symbols: Sequence[str], day: date, instant: datetime, *, sources: Collection[str], synthetic: bool
    ) -> list[str]:
        """Those of `symbols` whose cached bar of `day`, from one of `sources`, was stored before `instant`."""
        rows = self._conn.execute(
            """SELECT symbol FROM market_bars WHERE synthetic = %s AND symbol = ANY(%s) AND day = %s
               AND source = ANY(%s) AND fetched_at < %s ORDER BY symbol""",
            (synthetic, list(symbols), day, list(sources), instant),
        ).fetchall()
        return [row[0] for row in rows]

    def forget(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> None:
        """Drop the bars of these symbols in start..end and every recorded fetch overlapping that range.

        Both go: a bad bar left behind (a Sunday bar from a timezone shift) would fail every later read,
        and a fetch record left overlapping the range would vouch for bars no longer there.
        """
        with self._conn.transaction():
            self._unvouch(symbols, start, end, synthetic=synthetic)
            self._conn.execute(
                """DELETE FROM market_fetches
                   WHERE synthetic = %s AND symbol = ANY(%s) AND start_day <= %s AND end_day >= %s""",
                (synthetic, list(symbols), end, start),
            )
            self._conn.execute(
                "DELETE FROM market_bars WHERE synthetic = %s AND symbol = ANY(%s) AND day BETWEEN %s AND %s",
                (synthetic, list(symbols), start, end),
            )

    def forget_all(self) -> None:
        """`forget` every symbol the cache holds a bar, a fetch or a vouch of, on every day."""
        for synthetic in (False, True):
            rows = self._conn.execute(
                """SELECT symbol FROM market_bars WHERE synthetic = %s UNION SELECT symbol FROM market_fetches
                   WHERE synthetic = %s UNION SELECT symbol FROM market_vouched WHERE synthetic = %s""",
                (synthetic,) * 3,
            ).fetchall()
            if rows:
                self.forget([r[0] for r in rows], date.min, date.max, synthetic=synthetic)

    def store(
        self, bars: Mapping[str, Sequence[Bar]], start: date, end: date, *, provider: str, synthetic: bool
    ) -> None:
        """Upsert `bars` (a later bar of the same symbol and day wins) and record the range as fetched.

        Bars none of which is cached yet (a backtest's prefetch) go straight in with one COPY; otherwise they go
        through COPY into a staging table (dropped before the commit) and one INSERT ... SELECT upserts them: a
        backtest stores some 40,000 bars, and one prepared INSERT each kept the client and the server busy at once
        (pipeline mode) for most of a short run, a serial run taking more than a core."""
        rows = rows_of(bars)
        with self._conn.transaction(), self._conn.cursor() as cur:
            self._unvouch(bars, start, end, synthetic=synthetic)
            if not self._upserted_straight(cur, rows):
                cur.execute(f"CREATE TEMP TABLE bars_staging AS SELECT {_COLUMNS} FROM market_bars LIMIT 0")
                _copy(cur, "bars_staging", rows)
                cur.execute(
                    f"""INSERT INTO market_bars ({_COLUMNS}) SELECT {_COLUMNS} FROM bars_staging
                       ON CONFLICT (synthetic, symbol, day) DO UPDATE SET open = excluded.open, high = excluded.high,
                           low = excluded.low, close = excluded.close, volume = excluded.volume,
                           source = excluded.source, fetched_at = now()"""
                )
                # Dropped here, not at commit: an outer transaction may store again before it commits.
                cur.execute("DROP TABLE bars_staging")
            cur.executemany(
                """INSERT INTO market_fetches (synthetic, symbol, start_day, end_day, provider)
                   VALUES (%s, %s, %s, %s, %s)""",
                [(synthetic, symbol, start, end, provider) for symbol in bars],
            )

    def _upserted_straight(self, cur: psycopg.Cursor[Any], rows: Collection[tuple[Any, ...]]) -> bool:
        """Write `rows` straight into market_bars when no cached bar shares their symbols and days (a backtest's
        prefetch into its own database): what the staged upsert would do, without a staging table or the upsert.
        False (nothing written) when one does, or when another writer stored one of them meanwhile."""
        import psycopg.errors  # lazy, as everywhere in storage

        if not rows:
            return True
        kinds = sorted({row[0] for row in rows})
        symbols = sorted({row[1] for row in rows})
        days = [row[2] for row in rows]
        found = self._conn.execute(_OVERLAP, (kinds, symbols, min(days), max(days))).fetchone()
        if found is None or found[0]:
            return False
        try:
            with self._conn.transaction():  # a savepoint: a row another writer stored first undoes only this
                _copy(cur, "market_bars", rows)
        except psycopg.errors.UniqueViolation:
            return False
        return True

    def read(
        self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool, trusted: bool = False
    ) -> dict[str, list[Bar]]:
        """Each symbol's cached bars in start..end, oldest first. `trusted`: the range is vouched (its rows passed
        validation as Bars already), so they are built without validating each again."""
        rows = self._conn.execute(
            """SELECT symbol, day, open, high, low, close, volume, source FROM market_bars
               WHERE synthetic = %s AND symbol = ANY(%s) AND day BETWEEN %s AND %s ORDER BY symbol, day""",
            (synthetic, list(symbols), start, end),
        ).fetchall()
        out: dict[str, list[Bar]] = {s: [] for s in symbols}
        if trusted:
            for symbol, day, open_, high, low, close, volume, source in rows:
                out[symbol].append(trusted_bar(symbol, day, open_, high, low, close, volume, source, synthetic))
            return out
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


class ScratchBarCache(BarCache):
    """A bar cache that keeps nothing and has no database: every read asks the provider, as on a cache never filled.
    For a read of the prices that must bind nothing (a sweep's check of each run's prices, before any database is
    made: app/backtest_prices.py `refuse_unread`)."""

    outlives_process = False

    def __init__(self) -> None:  # no connection: nothing here reaches one
        pass

    def covers(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> bool:
        return False

    def vouched(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> bool:
        return False

    def coverage(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> tuple[bool, bool]:
        return False, False

    def vouch(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> None:
        pass

    def holds_bars(self) -> bool:
        return False

    def spans(self, *, synthetic: bool) -> dict[str, list[tuple[date, date]]]:
        return {}

    def count(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> int:
        return 0

    def closes(
        self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool
    ) -> dict[str, dict[date, float]]:
        return {symbol: {} for symbol in symbols}

    def first_since(self, symbols: Sequence[str], since: date, *, synthetic: bool) -> dict[str, date]:
        return {}

    def stored_at(self, symbol: str, day: date, *, synthetic: bool) -> datetime | None:
        return None

    def stored_before(
        self, symbols: Sequence[str], day: date, instant: datetime, *, sources: Collection[str], synthetic: bool
    ) -> list[str]:
        return []

    def forget(self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool) -> None:
        pass

    def forget_all(self) -> None:
        pass

    def store(
        self, bars: Mapping[str, Sequence[Bar]], start: date, end: date, *, provider: str, synthetic: bool
    ) -> None:
        pass

    def read(
        self, symbols: Sequence[str], start: date, end: date, *, synthetic: bool, trusted: bool = False
    ) -> dict[str, list[Bar]]:
        return {symbol: [] for symbol in symbols}
