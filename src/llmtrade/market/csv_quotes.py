"""Intraday prices from a CSV folder: real intraday files when there are some, else a labelled approximation.

Layout, next to the daily files (`SPY.csv`):

    intraday/SPY.csv      Timestamp,Price
                          2026-01-05T10:31:00-05:00,588.12
                          2026-01-05T10:32:00-05:00,588.30

one row per observed price, ascending, each timestamp with its UTC offset (or `Z`); extra columns are
ignored. Exporting bars? Stamp each row with the bar's END and give its close: a bar stamped with its
start would put its close before it happened. A symbol's price at `now` is its last row at or before
`now` (kind "intraday-file"); the service refuses it when it is older than the staleness limit.

A symbol without an intraday file is priced from its daily row for the day by the same Brownian bridge
as the synthetic market (intraday_path.py): kind "daily-bridge", `approximation=True`, shown as such
wherever the quote goes. It is a model of where the price could have been, not a price anyone traded;
it is used rather than the open (a price from before the order) or a straight line to the close (which
would tell the reader the day's direction).

In a backtest (`bridge_after`: its staleness limit) the files are the whole record: a symbol whose intraday file has
no row in the session before `now`, or only one older than the limit, is priced by the same bridge, labelled as
such, rather than refused (market/quotes.py). A live run keeps the refusal (a temporary problem: the next download
may bring the row); a backtest's would fail every rerun the same way.
"""

from __future__ import annotations

import csv
import hashlib
import math
from array import array
from bisect import bisect_left, bisect_right
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

from llmtrade.domain.market import Bar, Quote
from llmtrade.errors import MarketDataError, MarketDataMissing
from llmtrade.market.calendar import NEW_YORK, TradingCalendar, new_york_date
from llmtrade.market.csv_folder import CANNOT_READ, CsvFolderProvider, folder_gone, unusable
from llmtrade.market.csv_text import NotText, decoded, delimiter, field_count
from llmtrade.market.intraday_path import PlanKey, bridge_prices, plan_keys, point_at, session_minutes

INTRADAY_DIR = "intraday"
# The bridge's seed for CSV days: fixed, so a drill prices a day the same way on every run.
_BRIDGE_SEED = "csv"


class CsvQuotes:
    name = "csv"
    synthetic = False

    def __init__(
        self, folder: Path, calendar: TradingCalendar, *, named_by: str = "", bridge_after: timedelta | None = None
    ):
        self.folder = folder
        # A backtest's staleness limit: an intraday file's row before the session or older than it is bridged instead.
        self.bridge_after = bridge_after
        self.named_by = named_by
        self._daily = CsvFolderProvider(folder, named_by=named_by)
        self._calendar = calendar

    def latest(self, symbols: list[str], now: datetime) -> dict[str, Quote]:
        """Intraday file rows where a file exists, daily-bridge approximations for the rest (see module doc)."""
        if not self.folder.is_dir():
            raise MarketDataMissing(folder_gone(self.folder, self.named_by))
        quotes: dict[str, Quote] = {}
        approximated = []
        for symbol in symbols:
            path = intraday_file(self.folder, symbol)
            why = unusable(path)  # a folder or a link to nothing is no file: the bridge prices the symbol
            if why is not None and why.startswith(CANNOT_READ):  # a file given, maybe, but out of reach: never guessed
                raise MarketDataError(f"{path}: the intraday file {why}")
            if why is None:
                quote = _from_file(path, symbol, now)
                if quote is not None and not self._gap(quote, now):
                    quotes[symbol] = quote
                elif self.bridge_after is not None and unusable(self.folder / f"{symbol}.csv") is None:
                    approximated.append(symbol)
            else:
                approximated.append(symbol)
        if approximated:
            quotes.update(self._bridged(approximated, now))
        return quotes

    def _gap(self, quote: Quote, now: datetime) -> bool:
        """Whether a backtest bridges `now` rather than price it by `quote`, a file's last row at or before `now`:
        from before `now`'s session opened, or older than the staleness limit (which the quote service refuses)."""
        day = new_york_date(now)
        if self.bridge_after is None or not self._calendar.is_session(day):
            return False
        return quote.as_of < self._calendar.session_open(day) or now - quote.as_of > self.bridge_after

    def path_keys(self, symbols: list[str], days: list[date]) -> list[list[PlanKey]]:
        """What `latest` plans on each of `days` (sessions) for the `symbols` it bridges (a daily file and no intraday
        one), by day: market/paths_ahead.py plans them ahead. A list for every day, empty where nothing is bridged or
        its files cannot be read now (`latest` says why).
        """
        bridged = [
            s
            for s in symbols
            if unusable(intraday_file(self.folder, s)) is not None and unusable(self.folder / f"{s}.csv") is None
        ]
        if not days or not bridged:
            return [[] for _ in days]
        try:
            bars = self._daily.daily_bars(bridged, min(days), max(days))
        except MarketDataError:  # each day's quote then says what is wrong
            return [[] for _ in days]
        by_day: dict[date, list[Bar]] = {}
        for symbol in bridged:
            for bar in bars.get(symbol) or []:
                by_day.setdefault(bar.day, []).append(bar)
        keys = []
        for day in days:
            minutes = session_minutes(self._calendar.session_open(day), self._calendar.session_close(day))
            keys.append(plan_keys(by_day.get(day, []), minutes, _BRIDGE_SEED))
        return keys

    def _bridged(self, symbols: list[str], now: datetime) -> dict[str, Quote]:
        day = new_york_date(now)
        opens, closes = self._calendar.session_open(day), self._calendar.session_close(day)
        minutes = session_minutes(opens, closes)
        present = [s for s in symbols if unusable(self.folder / f"{s}.csv") is None]
        bars = self._daily.daily_bars(present, day, day) if present else {}
        index, at = point_at(opens, minutes, now)
        listed = [(symbol, bar) for symbol in present for bar in bars.get(symbol) or []]
        # Every symbol's day priced together, as the synthetic market's: at a day's first quote one pass of draws.
        prices = bridge_prices([bar for _, bar in listed], minutes, _BRIDGE_SEED, index)
        quotes = {}
        for (symbol, _), price in zip(listed, prices, strict=True):
            quotes[symbol] = Quote(
                symbol=symbol, price=price, as_of=at, provider=self.name, kind="daily-bridge", approximation=True
            )
        return quotes


def _from_file(path: Path, symbol: str, now: datetime) -> Quote | None:
    stat = path.stat()
    stamps, prices = _read(path, stat.st_mtime_ns, stat.st_size)
    i = bisect_right(stamps, now.timestamp()) - 1
    if i < 0:
        return None
    return Quote(
        symbol=symbol,
        price=prices[i],
        as_of=datetime.fromtimestamp(stamps[i], now.tzinfo),
        provider="csv",
        kind="intraday-file",
    )


@lru_cache(maxsize=64)
def _read(path: Path, mtime_ns: int, size: int) -> tuple[list[float], list[float]]:
    """(POSIX timestamps, prices) of an intraday file, ascending; cached until the file changes."""
    stamps: list[float] = []
    prices: list[float] = []
    try:
        text = decoded(path.read_bytes())  # UTF-8, or UTF-16/UTF-32 by its byte-order mark, as a daily file
    except OSError as exc:
        raise MarketDataError(f"{path}: unreadable intraday file ({exc}); save it as UTF-8 text") from None
    except NotText as exc:
        raise MarketDataError(f"{path}, line {exc.line}: unreadable intraday file: {exc.reason}") from None
    lines = text.splitlines()
    reader = csv.DictReader(lines, delimiter=delimiter(lines[0]) if lines else ",")
    absent = [c for c in ("Timestamp", "Price") if c not in (reader.fieldnames or [])]
    if absent:
        raise MarketDataError(f"{path}, line 1: missing column(s) {', '.join(absent)} (layout: Timestamp,Price)")
    columns = list(reader.fieldnames or [])
    for row in reader:
        where = f"{path}, line {reader.line_num}"
        fields = field_count(row, columns)  # type: ignore[arg-type]
        if fields != len(columns):
            # "…,1,234.50" would read a price of 1: a comma inside a number shifts the columns (csv_folder.py).
            raise MarketDataError(
                f"{where}: {fields} fields where the header has {len(columns)} (a comma inside a number, such as "
                "1,234.50, must be quoted or left out)"
            )
        try:
            instant = datetime.fromisoformat((row["Timestamp"] or "").strip())
            price = float((row["Price"] or "").strip())
        except ValueError:
            raise MarketDataError(f"{where}: unreadable row {row!r} (expected an ISO timestamp and a number)") from None
        if instant.utcoffset() is None:
            raise MarketDataError(f"{where}: timestamp {row['Timestamp']!r} has no UTC offset (add -05:00 or Z)")
        if not math.isfinite(price) or price <= 0:
            raise MarketDataError(f"{where}: price {row['Price']!r} is not a positive number")
        if stamps and instant.timestamp() <= stamps[-1]:
            raise MarketDataError(f"{where}: {instant.isoformat()} does not come after the row before it")
        stamps.append(instant.timestamp())
        prices.append(price)
    return stamps, prices


def intraday_days(folder: Path, first: date, last: date) -> tuple[dict[str, dict[date, str]], dict[str, str]]:
    """Each intraday file's prices from `first` to `last` (New York days), a short digest per day that has rows, by
    file name: what a backtest's resume compares (app/backtest_inputs.py), the files being no part of its price data
    hash. A quote reads only its own session's rows (an older one is stale), so the days bound what a range can read.
    A file that cannot be read as intraday prices is left out (any job quoting from it stops, so the weeks that ran
    read nothing from it), and why is given apart, by file name: a resume refused over it names the line to mend."""
    found: dict[str, dict[date, str]] = {}
    unread: dict[str, str] = {}
    for path in sorted((folder / INTRADAY_DIR).glob("*.csv")):
        why = unusable(path)
        if why is not None:  # a folder or a link to nothing: the daily bridge prices the symbol; else a quote stops
            if why.startswith(CANNOT_READ):
                unread[path.name] = f"{path}: the intraday file {why}"
            continue
        try:
            stat = path.stat()
            stamps, prices = _read(path, stat.st_mtime_ns, stat.st_size)
        except OSError as exc:
            unread[path.name] = f"{path}: the intraday file {CANNOT_READ} ({exc.strerror or exc})"
            continue
        except MarketDataError as exc:
            unread[path.name] = str(exc)
            continue
        found[path.name] = _digests(stamps, prices, first, last)
    return found, unread


def gaps_notice(found: dict[str, dict[date, str]], sessions: list[date]) -> str | None:
    """What a backtest says once at its start when intraday files (`found`, as `intraday_days` gives) have no rows on
    some of the `sessions` its jobs read: which files, which days, and that those checkpoints are bridged (an
    approximation, see the module doc); None when every file covers every session. Files missing the same days are
    named together (a folder exported the same way gives one line, not one per symbol)."""
    by_missing: dict[tuple[date, ...], list[str]] = {}
    for name, days in sorted(found.items()):
        missing = tuple(d for d in sessions if d not in days)
        if missing:
            by_missing.setdefault(missing, []).append(f"{INTRADAY_DIR}/{name}")
    if not by_missing:
        return None
    parts = []
    for missing, names in by_missing.items():
        shown = ", ".join(str(d) for d in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        files = ", ".join(names[:5]) + (f" and {len(names) - 5} more files" if len(names) > 5 else "")
        parts.append(f"{files}: no rows on {len(missing)} of the {len(sessions)} sessions the weeks read ({shown})")
    return (
        "intraday prices: " + "; ".join(parts) + ". A checkpoint on such a session prices the symbol by the daily "
        "bridge (kind daily-bridge: an approximation, labelled as such), not from the file"
    )


def _digests(stamps: list[float], prices: list[float], first: date, last: date) -> dict[date, str]:
    """A digest of each New York day's rows (`stamps` ascending) from `first` to `last`."""
    days: dict[date, str] = {}
    i = bisect_left(stamps, datetime.combine(first, time(), NEW_YORK).timestamp())
    end = datetime.combine(last + timedelta(days=1), time(), NEW_YORK).timestamp()
    while i < len(stamps) and stamps[i] < end:
        day = datetime.fromtimestamp(stamps[i], NEW_YORK).date()
        j = bisect_left(stamps, datetime.combine(day + timedelta(days=1), time(), NEW_YORK).timestamp(), i)
        rows = array("d", stamps[i:j]).tobytes() + array("d", prices[i:j]).tobytes()
        days[day] = hashlib.sha256(rows).hexdigest()[:16]
        i = j
    return days


def intraday_file(folder: Path, symbol: str) -> Path:
    """Where `symbol`'s intraday file lives in a CSV folder (it may not exist)."""
    return folder / INTRADAY_DIR / f"{symbol}.csv"
