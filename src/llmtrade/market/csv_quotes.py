"""Intraday prices from a CSV folder: real intraday files when there are some, else the session's open.

Layout, next to the daily files (`SPY.csv`):

    intraday/SPY.csv      Timestamp,Price
                          2026-01-05T10:31:00-05:00,588.12
                          2026-01-05T10:32:00-05:00,588.30

one row per observed price, ascending, each timestamp with its UTC offset (or `Z`); extra columns are
ignored. Exporting bars? Stamp each row with the bar's END and give its close: a bar stamped with its
start would put its close before it happened. A symbol's price at `now` is its last row at or before
`now` (kind "intraday-file"); the service refuses it when it is older than the staleness limit.

A symbol without an intraday file is priced, all session long, at its daily row's open (kind "daily-open", stamped
at the open): the one price of the session known before its close. Nothing else of the row (high, low, close) is read
before the close: an earlier version drew a path through them (a Brownian bridge), and the 12:00 price of such a path
is shaped by the close to come, a look-ahead inside the session. The open is hours old by design, so no order sent at
it fills at it (Quote.tradable): the paper broker fills it at the session's close, the first price after the order.

In a backtest (`open_after`: its staleness limit) the files are the whole record: a symbol whose intraday file has
no row in the session before `now`, or only one older than the limit, is priced at the open in the same way, labelled
as such, rather than refused (market/quotes.py). A live run keeps the refusal (a temporary problem: the next download
may bring the row); a backtest's would fail every rerun the same way.
"""

from __future__ import annotations

import copy
import hashlib
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

from llmtrade.domain.market import Bar, Quote
from llmtrade.domain.wording import named_first
from llmtrade.errors import MarketDataError, MarketDataMissing
from llmtrade.market.calendar import NEW_YORK, TradingCalendar, new_york_date
from llmtrade.market.csv_files import INTRADAY_DIR, case_twins, file_version, intraday_file, twins_refused
from llmtrade.market.csv_folder import CANNOT_READ, CsvFolderProvider, folder_gone, unusable
from llmtrade.market.csv_intraday import intraday_rows, stamp_lines
from llmtrade.market.failures import PriceFilesMisconfigured
from llmtrade.market.provider import BarProvider
from llmtrade.market.session_prices import csv_gaps


class CsvQuotes:
    name = "csv"
    synthetic = False

    def __init__(
        self, folder: Path, calendar: TradingCalendar, *, named_by: str = "", open_after: timedelta | None = None
    ):
        self.folder = folder
        # A backtest's staleness limit: an intraday file's row before the session or older than it yields to the open.
        self.open_after = open_after
        self.named_by = named_by
        # Its daily rows are read for their open alone (`_opening`, `never_in_session`), final once the session opened:
        # a row exported while the session trades is kept for it (csv_unfinished.py leaves it out of every bar read).
        self._daily: BarProvider = CsvFolderProvider(folder, named_by=named_by, keep_unfinished=True)
        self._calendar = calendar
        self._until: datetime | None = None  # a look-ahead audit's wall (`cut`)

    def cut(self, daily: Callable[[BarProvider], BarProvider], until: datetime) -> CsvQuotes:
        """This provider as a look-ahead audit's cut-off run reads it (app/backtest_market.py): its daily rows through
        `daily` (the wall the caller builds around its own daily reader) and no intraday row stamped after `until`,
        dropped before a row is looked for, so a reader that looked past `now` would find another row than live."""
        cut = copy.copy(self)
        cut._daily = daily(self._daily)
        cut._until = until
        return cut

    def latest(self, symbols: list[str], now: datetime) -> dict[str, Quote]:
        """Intraday file rows where a file exists, the session's open for the rest (see module doc)."""
        if not self.folder.is_dir():
            raise MarketDataMissing(folder_gone(self.folder, self.named_by))
        if twins := case_twins(self.folder / INTRADAY_DIR, symbols):  # intraday/spy.csv beside SPY.csv: which one?
            raise twins_refused(self.folder / INTRADAY_DIR, twins, self.named_by)
        quotes: dict[str, Quote] = {}
        at_open = []
        for symbol in symbols:
            path = intraday_file(self.folder, symbol)
            why = unusable(path)  # a folder or a link to nothing is no file: the session's open prices the symbol
            if why is not None and why.startswith(CANNOT_READ):  # a file given, maybe, but out of reach: never guessed
                raise MarketDataError(f"{path}: the intraday file {why}")
            if why is None:
                quote = _from_file(path, symbol, now, self._until)
                if quote is not None and not self._gap(quote, now):
                    quotes[symbol] = quote
                elif self.open_after is not None and unusable(self.folder / f"{symbol}.csv") is None:
                    at_open.append(symbol)
            else:
                at_open.append(symbol)
        if at_open:
            quotes.update(self._opening(at_open, now))
        return quotes

    def never_in_session(self, symbols: list[str], now: datetime | None) -> dict[str, str]:
        """Daily files only, live (market/session_prices.py); {} in a backtest, whose files price them at the open."""
        return {} if self.open_after is not None else csv_gaps(self.folder, self._daily, symbols, now)

    def _gap(self, quote: Quote, now: datetime) -> bool:
        """Whether a backtest prices `now` at the session's open rather than by `quote`, a file's last row at or
        before `now`: from before `now`'s session opened, or older than the staleness limit (the service refuses it)."""
        day = new_york_date(now)
        if self.open_after is None or not self._calendar.is_session(day):
            return False
        return quote.as_of < self._calendar.session_open(day) or now - quote.as_of > self.open_after

    def _opening(self, symbols: list[str], now: datetime) -> dict[str, Quote]:
        """Each symbol's open of `now`'s session, from its daily row, stamped at the open (see module doc)."""
        day = new_york_date(now)
        opens = self._calendar.session_open(day)
        present = [s for s in symbols if unusable(self.folder / f"{s}.csv") is None]
        bars = self._daily.daily_bars(present, day, day) if present else {}
        return {
            symbol: Quote(symbol=symbol, price=bar.open, as_of=opens, provider=self.name, kind="daily-open")
            for symbol in present
            for bar in bars.get(symbol) or []
            if bar.day == day
        }


def _from_file(path: Path, symbol: str, now: datetime, until: datetime | None = None) -> Quote | None:
    stat = path.stat()
    stamps, prices = _read(path, file_version(stat))
    if until is not None:
        kept = bisect_right(stamps, until.timestamp())
        stamps, prices = stamps[:kept], prices[:kept]
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
def _read(path: Path, version: tuple[int, ...]) -> tuple[list[float], list[float]]:
    """(POSIX timestamps, prices) of an intraday file, ascending; cached until the file changes. A file that cannot be
    read as such is the CSV folder's to mend (PriceFilesMisconfigured, exit 2, as a daily file's bad row); one out of
    reach (OSError) is not."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MarketDataError(f"{path}: unreadable intraday file ({exc}); save it as UTF-8 text") from None
    return intraday_rows(path, data)


def intraday_days(folder: Path, first: date, last: date) -> tuple[dict[str, dict[date, str]], dict[str, str]]:
    """Each intraday file's prices from `first` to `last` (New York days), a short digest per day that has rows, by
    file name: what a backtest's resume compares (app/backtest_inputs.py), the files being no part of its price data
    hash. A quote reads only its own session's rows (an older one is stale), so the days bound what a range can read.
    A file that cannot be read as intraday prices is left out (any job quoting from it stops, so the weeks that ran
    read nothing from it), and why is given apart, by file name: a resume refused over it names the line to mend.
    Raises PriceFilesMisconfigured (exit 2) for two files whose names differ only in case, naming both."""
    found: dict[str, dict[date, str]] = {}
    unread: dict[str, str] = {}
    if twins := case_twins(folder / INTRADAY_DIR):  # refused at the start, as the daily files' (csv_files.py)
        raise twins_refused(folder / INTRADAY_DIR, twins)
    for path in sorted((folder / INTRADAY_DIR).glob("*.csv")):
        why = unusable(path)
        if why is not None:  # a folder or a link to nothing: the session's open prices the symbol; else a quote stops
            if why.startswith(CANNOT_READ):
                unread[path.name] = f"{path}: the intraday file {why}"
            continue
        try:
            stat = path.stat()
            stamps, prices = _read(path, file_version(stat))
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
    some of the `sessions` its jobs read: which files, which days, and that those checkpoints are priced at the
    session's open (see the module doc); None when every file covers every session. Files missing the same days are
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
        shown = named_first([str(d) for d in missing], 5)
        files = named_first(names, 5, more=" and {n} more files")
        parts.append(f"{files}: no rows on {len(missing)} of the {len(sessions)} sessions the weeks read ({shown})")
    return (
        "intraday prices: " + "; ".join(parts) + ". A checkpoint on such a session prices the symbol at the "
        "session's open from its daily file (kind daily-open), not from the intraday file, and an order sent then "
        "fills at the session's close"
    )


def stale_notice(
    folder: Path,
    found: dict[str, dict[date, str]],
    instants: list[datetime],
    limit: timedelta,
    calendar: TradingCalendar,
) -> str | None:
    """What a backtest says once at its start when intraday files (`found`, as `intraday_days` gives) have rows on a
    session but none that prices some of its jobs in session (`instants`): a job's price is the file's last row at or
    before it, and one from before the session's open or older than `limit` yields to the session's open (`CsvQuotes
    ._gap`). A file of pre-market rows, or of a morning's, priced no checkpoint and nothing said so (`gaps_notice`
    names the sessions with no row at all, which are left out here). Files missing the same instants are named
    together; None when every job on a session with rows finds one."""
    by_missing: dict[tuple[datetime, ...], list[str]] = {}
    counted: dict[tuple[datetime, ...], int] = {}
    for name, days in sorted(found.items()):
        path = folder / INTRADAY_DIR / name
        try:
            stat = path.stat()
            stamps, _ = _read(path, file_version(stat))
        except (OSError, MarketDataError):  # gone or changed since it was read: a quote of it says so
            continue
        on = [now for now in instants if new_york_date(now) in days]
        missing = []
        for now in on:
            i = bisect_right(stamps, now.timestamp()) - 1
            opened = calendar.session_open(new_york_date(now)).timestamp()
            if i < 0 or stamps[i] < opened or now.timestamp() - stamps[i] > limit.total_seconds():
                missing.append(now)
        if missing:
            by_missing.setdefault(tuple(missing), []).append(f"{INTRADAY_DIR}/{name}")
            counted[tuple(missing)] = len(on)
    if not by_missing:
        return None
    minutes = f"{limit.total_seconds() / 60:g} min"
    parts = []
    for missing, names in by_missing.items():
        shown = named_first([f"{new_york_date(t)} {t.astimezone(NEW_YORK):%H:%M}" for t in missing], 3)
        files = named_first(names, 5, more=" and {n} more files")
        parts.append(
            f"{files}: no row of the session within {minutes} before {len(missing)} of the {counted[missing]} "
            f"jobs in session on the sessions with rows ({shown})"
        )
    return (
        "intraday prices: " + "; ".join(parts) + ". A row from before the session's open, or older than "
        f"quote_staleness_seconds ({limit.total_seconds():g} s), is no price then: such a job prices the symbol at "
        "the session's open from its daily file (kind daily-open), not from the intraday file, and an order sent then "
        "fills at the session's close"
    )


# How far past its session's daily low-high an intraday price may lie before a backtest refuses it: a feed's own
# prints or quote midpoints may stray a little from the consolidated bar; a misplaced decimal or another symbol's price
# does not.
OFF_RANGE = 0.01


def off_range_rows(
    folder: Path, bars: Mapping[str, Sequence[Bar]], sessions: Iterable[date], calendar: TradingCalendar
) -> PriceFilesMisconfigured | None:
    """The refusal of a backtest's start when an intraday file prices a symbol, in session (open to close) on one of
    `sessions`, more than OFF_RANGE outside that session's daily bar in `bars` (its low to its high): a checkpoint would
    trade at it, and a backtest looks at no quote as a live run's bad-print rule does (quote_checks.py). The first such
    file's first row, with its line, and how many more rows alike; None when there is none. Rows before the open or
    after the close (pre-market, after-hours: no job in session reads them) are not looked at. A file whose rows cannot
    be read as intraday prices (csv_intraday.py: a row unreadable or on a closed day, a blank line among them) is that
    refusal when a job is in session on one of `sessions`: its first quote of the symbol reads the whole file and would
    stop on it, after the weeks before had run. One out of reach (OSError) is left to the quote that reads it."""
    days = sorted(set(sessions))
    for symbol in sorted(bars):
        path = intraday_file(folder, symbol)
        if unusable(path) is not None:
            continue
        try:
            stat = path.stat()
            stamps, prices = _read(path, file_version(stat))
        except PriceFilesMisconfigured as exc:
            if days:
                return exc
            continue
        except (OSError, MarketDataError):
            continue
        of_day = {bar.day: bar for bar in bars[symbol]}
        off: list[tuple[float, float, Bar]] = []
        checked = 0
        for day in days:
            if (bar := of_day.get(day)) is None or not calendar.is_session(day):
                continue
            first = bisect_left(stamps, calendar.session_open(day).timestamp())
            last = bisect_right(stamps, calendar.session_close(day).timestamp())
            checked += last - first
            off += [
                (stamps[i], prices[i], bar)
                for i in range(first, last)
                if not bar.low * (1 - OFF_RANGE) <= prices[i] <= bar.high * (1 + OFF_RANGE)
            ]
        if off:
            return _off_range(path, symbol, off, checked)
    return None


def _off_range(path: Path, symbol: str, off: list[tuple[float, float, Bar]], checked: int) -> PriceFilesMisconfigured:
    lines = _lines(path, [stamp for stamp, _, _ in off])
    stamp, price, bar = off[0]
    at = datetime.fromtimestamp(stamp, NEW_YORK).isoformat()
    more = ""
    if len(off) > 1:
        shown = named_first([str(n) for n in lines[1:]], 5)
        plural = "s" if len(off) > 2 else ""
        more = f" (and {len(off) - 1} more row{plural} alike: line{plural} {shown})"
    return PriceFilesMisconfigured(
        f"{path}, line {lines[0]}: {symbol} at {at} is {price:g}, outside {bar.day}'s low-high in {symbol}.csv "
        f"({bar.low:.2f} to {bar.high:.2f}) by more than {OFF_RANGE:.0%}{more}: a checkpoint then would trade at it. "
        + (
            # Most rows off: not a bad print but two bases (a daily Close adjusted for dividends or splits, as
            # yfinance's auto_adjust gives, beside unadjusted intraday prices), which no single row's fix mends.
            f"Most of its rows in session are off ({len(off)} of {checked}): the two files are likely on different "
            f"bases (one adjusted for dividends or splits, the other not); give {symbol}.csv and its intraday file "
            "on the same basis, and run again"
            if 2 * len(off) > checked
            else "Fix the row (a misplaced decimal, another symbol's price) or take it out, and run again"
        )
    )


def _lines(path: Path, stamps: list[float]) -> list[int]:
    """The line of each of `stamps` (rows of `path`, which `_read` read: ascending, unique) in the file."""
    found = stamp_lines(path, path.read_bytes())
    return [found[stamp] for stamp in stamps]


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
