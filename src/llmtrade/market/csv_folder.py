"""Daily bars from a folder of CSV files, one per symbol (`SPY.csv`: Date,Open,High,Low,Close,Volume).

Column names are matched whatever their case, and `timestamp` stands for Date (Alpha Vantage's
`timestamp,open,high,low,close,volume`). Extra columns are ignored, but for a Ticker or Symbol column (as Yahoo and
vendor exports have): a row naming another symbol than the file's is refused, since a file copied under the wrong
name would otherwise trade one instrument on another's prices; and for a Currency column: a row priced in another
currency than USD is refused (accounts, costs and the benchmark are in dollars; a London listing's pence are not).
A file whose rows run newest first (Alpha Vantage, Investing.com) is refused saying so, and so is a row with more or
fewer fields than the header (an unquoted 1,234.50 shifts every column after it), and a blank line among the rows
(those after the last row are passed over: market/csv_text.py `blank_lines`). A row is read by market/csv_row.py.
A malformed file is refused (SeriesRejected) naming the file, line and what to do, never a silent skip: a missing row
would quietly shift every indicator computed from it; every file asked for is read first, and all their problems are
refused at once. Files are UTF-8, with or without a byte-order mark, or UTF-16/UTF-32 with one, and yfinance's
header rows (its column levels in either order: group_by='column' or 'ticker') are read as one (market/csv_text.py).
Missing sessions between two rows, and rows on closed days, are the file's too, said with their lines
(market/csv_sessions.py); the market service's validator (market/validation.py) finds a file that stops early, naming
it through `origin`.
Something else named SYMBOL.csv (a folder, a link to nothing, a pipe) or a file that cannot be read is refused naming it
(`unusable`), never a traceback, and so are two files whose names differ only in case (market/csv_files.py, where
`price_files` reads what a backtest's data hash and a sweep's shipped prices hold).
A row written before its session closed (the file's modification time, or the last row's own time inside its session:
an export while the session traded) is left out, said, as no final bar (market/csv_unfinished.py).
Each of these is the configured folder's to mend (exit 2: failures.py PriceFileMissing, SeriesRejected `files`),
but a file only out of reach for now (`_out_of_reach`).
"""

from __future__ import annotations

import csv
import errno
import os
import stat
from bisect import bisect_left, bisect_right
from datetime import date, datetime
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

from llmtrade.clock import Clock, SystemClock
from llmtrade.config.loader import PACKAGED
from llmtrade.config.models import BENCHMARK
from llmtrade.domain.market import Bar
from llmtrade.errors import MarketDataMissing, MarketDataUnavailable, PartAnswered
from llmtrade.exits import PATH_ERRNOS
from llmtrade.market import csv_unfinished
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.market.csv_files import case_twins, file_version, respelt, twins_refused
from llmtrade.market.csv_problems import FileProblems, file_lines, rejected
from llmtrade.market.csv_row import REQUIRED, last_row_stamp, row_bar
from llmtrade.market.csv_sessions import ahead_problems, session_problems
from llmtrade.market.csv_text import (
    blank_lines,
    blank_reason,
    delimiter,
    field_count,
    levels,
    newest_first,
    separated,
    ticker_key,
)
from llmtrade.market.csv_unfinished import Unfinished, unfinished_error, unfinished_rows, unfinished_said
from llmtrade.market.failures import PriceFileMissing, few
from llmtrade.market.validation import BarProblem, ProblemKind, SeriesRejected

_HEADER = f"no header row ({','.join(REQUIRED)}) and no rows"


class CsvFolderProvider:
    name = "csv"
    synthetic = False

    def __init__(
        self,
        folder: Path,
        *,
        named_by: str = "",
        assets_file: str = "assets.yaml",
        clock: Clock | None = None,
        keep_unfinished: bool = False,
    ):
        self.folder = folder
        # Rows written before their session closed are left out (csv_unfinished.py) but for a reader of their open
        # alone, final once the session opened (csv_quotes.py's daily-open quote, and whether there is one).
        self.keep_unfinished = keep_unfinished
        # The machine's clock, not LLMTRADE_NOW nor a backtest's stepped one: a bar after the real today cannot be a
        # price anyone traded at, while one after a chosen instant is real history a drill or a backtest stops short
        # of by its own range (csv_sessions.ahead_problems).
        self._clock: Clock = clock or SystemClock()
        self.named_by = named_by  # where the folder was named (assets.yaml's key, --csv), for the message
        self.assets_file = assets_file  # the assets.yaml whose universe asks for the files (config/loader.py label)
        self._calendar = TradingCalendar()

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        if not self.folder.is_dir():
            raise MarketDataMissing(folder_gone(self.folder, self.named_by))
        if twins := case_twins(self.folder, symbols):  # spy.csv beside SPY.csv: which is the prices? (csv_files.py)
            raise twins_refused(self.folder, twins, self.named_by)
        reached = {s: _reached(self._file(s)) for s in symbols}
        found = {s: None if r is None else r[0] for s, r in reached.items()}
        lacking = [s for s, why in found.items() if why is not None]
        bars: dict[str, list[Bar]] = {}
        unfinished: dict[str, Unfinished] = {}
        problems: list[BarProblem] = []
        for symbol in symbols:
            if symbol in lacking:
                continue
            try:
                read, lines, written, stamp = _between(self._file(symbol), symbol, start, end, self._calendar)
            except SeriesRejected as exc:  # every file read before any is refused: all their problems said at once
                problems += exc.problems
                continue
            except OSError as exc:  # unreadable though a regular file (no permission, an I/O error), or gone since
                reason = exc.strerror or str(exc)
                message = f"csv folder {self.folder}: {self._file(symbol)} {CANNOT_READ} ({reason}): {USABLE}"
                raise _out_of_reach(exc)(message) from exc
            # A row dated after today is no price at all; a session missing between two rows, or a row on a closed
            # day, is the file's as a row written twice is.
            today = new_york_date(self._clock.now())
            off = ahead_problems(self._file(symbol), symbol, read, lines, today)
            if off or (off := session_problems(self._file(symbol), symbol, read, lines, self._calendar)):
                problems += off
                continue
            # A row exported while its session traded is no bar of it: the symbol is short of that session.
            cal = self._calendar
            late = None if self.keep_unfinished else unfinished_rows(self._file(symbol), read, written, cal, stamp)
            if late is None:
                bars[symbol] = read
            else:
                unfinished[symbol] = late
        short = {"unfinished": unfinished, "within": (start, end)}
        if problems:
            # A bad row refuses the whole answer, as ever; the symbols without a usable file go with the refusal
            # (`lacking`), so neither is said without the other (the missing file alone was, the bad rows never).
            lacked = self._lacking(reached, {}, **short) if lacking or unfinished else None
            raise SeriesRejected(problems, read=bars, lacking=lacked, files=True)
        if lacking or unfinished:
            # The files there are kept (`answered`): the service takes their bars and asks the next provider only for
            # the symbols without a usable file, or without a final row.
            raise self._lacking(reached, bars, **short)
        return bars

    def _lacking(
        self,
        reached: dict[str, _Unusable | None],
        answered: dict[str, list[Bar]],
        unfinished: dict[str, Unfinished] | None = None,
        within: tuple[date, date] | None = None,
    ) -> PartAnswered:
        """The error for the symbols without a usable file (`reached`: `_reached`'s answers), and those whose rows were
        written before their session closed (`unfinished`, `within` the range asked), `answered` the others':
        the configuration's to mend (PriceFileMissing, exit 2) when any file is, else as `_out_of_reach` says; for
        unfinished rows alone, as csv_unfinished.py's `unfinished_error` says."""
        found = {s: None if r is None else r[0] for s, r in reached.items()}
        if unfinished and all(why is None for why in found.values()):
            within = within or (date.min, date.min)
            return unfinished_error(unfinished, answered, self._calendar, *within, self._clock.now())
        missing = [s for s, why in found.items() if why == ABSENT and s != BENCHMARK]
        broken = [f"{self._file(s)} {why}" for s, why in found.items() if why not in (None, ABSENT)]
        said = []
        if found.get(BENCHMARK) == ABSENT:
            # Not "or leave them out of the universe": the benchmark is read whatever the universe holds.
            said.append(
                f"csv folder {self.folder}{self._named} has no file for {BENCHMARK}, the benchmark ("
                f"{self._file(BENCHMARK)} does not exist): every week reads it and the leaderboard ranks against it, "
                f"whatever the universe holds, so it cannot be left out: add {BENCHMARK}.csv"
                + respelt(self.folder, [BENCHMARK])
            )
        if missing:
            # What to do is in the message, the files and the config file named: a folder of a few files (the seven
            # ETFs') met the packaged 12-symbol universe, and a new user was left to find assets.yaml alone.
            files = few([str(self._file(s)) for s in missing], noun="files")
            one = len(missing) == 1
            edit = f"leave {'it' if one else 'them'} out of the universe in {self.assets_file}"
            if self.assets_file.endswith(f"({PACKAGED})"):
                edit += " (`llmtrade init DIR` writes an editable copy; then --config DIR)"
            said.append(
                f"csv folder {self.folder}{self._named} has no file for {few(missing)} ({files} "
                f"{'does' if one else 'do'} not exist): add {'it' if one else 'a SYMBOL.csv for each'}, or {edit}"
                + respelt(self.folder, missing)
            )
        if broken:
            said.append(f"csv folder {self.folder}{self._named}: {'; '.join(broken)}: {USABLE}")
        if unfinished:
            said.append(unfinished_said(unfinished))
        lacking = [s for s, why in found.items() if why is not None] + list(unfinished or {})
        kinds = {r[1] for r in reached.values() if r is not None}
        error = next(k for k in (PriceFileMissing, MarketDataMissing, MarketDataUnavailable) if k in kinds)
        return error("; ".join(said), symbols=lacking, answered=answered)

    @property
    def _named(self) -> str:
        return f" ({self.named_by})" if self.named_by else ""

    def origin(self, symbol: str) -> str:
        """The file a symbol's bars come from, so a rejection can name it."""
        return str(self._file(symbol))

    def incomplete(self, close: datetime) -> None:
        return None  # a file's bars are what they are

    def _file(self, symbol: str) -> Path:
        return self.folder / f"{symbol}.csv"


def folder_gone(folder: Path, named_by: str) -> str:
    """The message for a CSV folder that is not there (config loading checked assets.yaml's; it may go later)."""
    return f"csv folder {folder}" + (f" ({named_by})" if named_by else "") + " does not exist"


ABSENT = "does not exist"
CANNOT_READ = "cannot be read"  # something may be there, but its kind and bytes are out of reach
USABLE = "each symbol's prices must be a readable file SYMBOL.csv (a link to one will do)"


def unusable(path: Path) -> str | None:
    """Why `path` cannot be read as a symbol's prices, None when it can: ABSENT when nothing is there, else what is
    there instead ("is a folder", "is a link to /x, which does not exist", ...). Links are followed."""
    found = _reached(path)
    return None if found is None else found[0]


# Why a file cannot be read, and the error that says so: the configuration's to mend, or not (`_out_of_reach`).
_Unusable = tuple[str, type[MarketDataMissing] | type[MarketDataUnavailable]]

# Errors of a file that is there, but out of reach for a while (a network share's stale handle, a lock, a timeout):
# a later run may read it, so it is no configuration to mend.
_FOR_NOW = frozenset({errno.EAGAIN, errno.EBUSY, errno.ETIMEDOUT, errno.ESTALE})


def _reached(path: Path) -> _Unusable | None:
    """`unusable`'s reason, with the error it calls for (`_out_of_reach`'s for a file that cannot be looked at)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            return f"is a link to {os.readlink(path)}, which does not exist", PriceFileMissing
        return ABSENT, PriceFileMissing
    except OSError as exc:  # no permission to a folder on the way, a loop of links
        return f"{CANNOT_READ} ({exc.strerror or exc})", _out_of_reach(exc)
    if stat.S_ISDIR(mode):
        return "is a folder, not a file", PriceFileMissing
    if not stat.S_ISREG(mode):
        return "is not a regular file (a pipe, socket or device)", PriceFileMissing
    return None


def _out_of_reach(exc: OSError) -> type[MarketDataMissing] | type[MarketDataUnavailable]:
    """The error for a price file the system would not read: a problem of the path (no permission, a loop of links:
    exits.PATH_ERRNOS) is the folder's to mend (exit 2, as exits.path_error has it); one out of reach for now
    (_FOR_NOW) is temporary (75); any other (an I/O error) someone must look at (1)."""
    if exc.errno in PATH_ERRNOS:
        return PriceFileMissing
    return MarketDataUnavailable if exc.errno in _FOR_NOW else MarketDataMissing


def last_stamp(path: Path, symbol: str) -> datetime | None:
    """The own time of the last row of `path` (csv_row.py `cell_stamp`), as its parse found it: `config validate`'s."""
    return _parsed_version(path, symbol, file_version(path.stat()))[2]


def _between(path: Path, symbol: str, start: date, end: date, cal: TradingCalendar) -> tuple[list[Bar], ...]:
    """The file's bars from start to end, each one's line, when the file was written (ns) to judge its rows by
    (csv_unfinished.py `written_ns`), and its last row's own time when among them (csv_row.py `cell_stamp`); a bisect
    of its days when they ascend (a backtest asks thousands of times)."""
    found = path.stat()
    version = file_version(found)
    bars, lines, stamp = _parsed_version(path, symbol, version)
    written = csv_unfinished.written_ns(found, bars[-1].day if bars else None, cal)
    stamp = stamp if bars and start <= bars[-1].day <= end else None
    days = _days_version(path, symbol, version)
    if days is None:
        kept = [i for i, b in enumerate(bars) if start <= b.day <= end]
        return [bars[i] for i in kept], [lines[i] for i in kept], written, stamp
    first, last = bisect_left(days, start), bisect_right(days, end)
    return list(bars[first:last]), list(lines[first:last]), written, stamp


@lru_cache(maxsize=256)
def _days_version(path: Path, symbol: str, version: tuple[int, ...]) -> list[date] | None:
    """The parsed file's days when strictly ascending, else None (the validator names the disorder)."""
    days = [b.day for b in _parsed_version(path, symbol, version)[0]]
    return days if all(a < b for a, b in pairwise(days)) else None


@lru_cache(maxsize=256)
def _parsed_version(
    path: Path, symbol: str, version: tuple[int, ...]
) -> tuple[tuple[Bar, ...], tuple[int, ...], datetime | None]:
    # A checkpoint prices every symbol from its daily file, many times a session in a backtest: parse a file
    # once per version of it (csv_files.py `file_version`: one stat), not once per read. Bars are frozen.
    bars, lines, stamp = _read(path, symbol)
    return tuple(bars), tuple(lines), stamp


def read_csv(path: Path, symbol: str) -> list[Bar]:
    """Every bar in `path`, or SeriesRejected naming the file, and each line wrong, and what to do (`_read`)."""
    return _read(path, symbol)[0]


def read_csv_bytes(path: Path, symbol: str, data: bytes) -> list[Bar]:
    """`read_csv` of `data`, the bytes of `path` read earlier (a sweep's driver reads each once: sweep/prices.py)."""
    return _read(path, symbol, data)[0]


def _read(path: Path, symbol: str, data: bytes | None = None) -> tuple[list[Bar], list[int], datetime | None]:
    """Every bar in `path`, the line each was read from and the last one's own time (csv_row.py `cell_stamp`), or
    SeriesRejected naming the file, and each line wrong, and what to do.

    The whole file is read before it is refused, every problem kept (up to csv_problems.PER_FILE, then a count of the
    rest): a user fixing one line per run, rerun after rerun, met the next only then. A bad row is left out of the bars
    but read no further; a problem of the whole file (its order, symbol, currency or dates) is said once
    (csv_problems.FileProblems)."""
    raw = file_lines(path, symbol, data)
    blank, among = blank_lines(raw, delimiter(raw[0]) if raw else ",")  # yfinance's header rows are no blank lines
    if 1 in among:
        raise rejected(path, 1, symbol, None, ProblemKind.UNREADABLE, blank_reason(1, ",".join(REQUIRED)))
    rows, tickers, ticker_line = levels(raw)
    if other := next((t for t in tickers if ticker_key(t) != ticker_key(symbol)), None):  # another symbol's download
        named = sorted({t.strip() for t in tickers})
        said = f"Ticker {other!r} is not {symbol}, the file's symbol"
        if len(named) > 1:  # download([...]) of several: each's columns side by side, never read as one symbol's
            listed = f"{', '.join(named[:-1])} and {named[-1]}"
            said = f"Ticker row names {listed}: a download of several tickers in one file; save each in its own"
        raise rejected(path, ticker_line, symbol, None, ProblemKind.WRONG_SYMBOL, said)
    reader = csv.DictReader(rows, delimiter=delimiter(rows[0]) if rows else ",")
    columns = reader.fieldnames or []
    spelled = {c.strip().lower(): c for c in columns}
    found = {c: spelled.get(c.lower()) or (spelled.get("timestamp") if c == "Date" else None) for c in REQUIRED}
    names = {c: name for c, name in found.items() if name is not None}
    absent = [c for c in REQUIRED if c not in names]
    if not columns:  # 0 bytes, or blank lines (a download cut short, a file truncated to be rewritten)
        raise rejected(path, 1, symbol, None, ProblemKind.UNREADABLE, f"the file is empty: {_HEADER}")
    if absent:
        raise rejected(
            path,
            1,
            symbol,
            None,
            ProblemKind.UNREADABLE,
            f"missing column(s) {', '.join(absent)} (has {', '.join(columns)}){separated(rows[0] if rows else '')}",
        )
    named = next((c for c in columns if c.strip().lower() in ("ticker", "symbol")), None)
    currency = spelled.get("currency")
    bars: list[Bar] = []
    seen: dict[date, int] = {}
    problems = FileProblems(path, symbol)
    numbered, last, before = [(reader.line_num, row) for row in reader], "", ""
    for at, (line, row) in enumerate(numbered):
        if line in blank:  # spaces or separators alone (an empty line never reaches here): refused below, or the end
            continue
        fields = field_count(row, columns)
        if fields != len(columns):
            # An unquoted thousands separator (1,234.50) adds a field and shifts the columns after it: the row's
            # figures would be read from the wrong columns, and may still look like prices.
            reason = (
                f"{(row.get(names['Date']) or '').strip()}: {fields} fields where the header has {len(columns)} (a "
                "comma inside a number, such as 1,234.50, must be quoted or left out; a stray or missing field "
                "shifts the columns)"
            )
            problems.refuse(line, None, ProblemKind.UNREADABLE, reason)
            continue
        try:
            bar = row_bar(path, line, symbol, {c: row.get(name) or "" for c, name in names.items()})
        except SeriesRejected as exc:
            problems.add(*exc.problems, line=line)
            continue
        if named is not None and ticker_key(row.get(named) or symbol) != ticker_key(symbol):
            reason = f"{bar.day}: {named} {(row.get(named) or '').strip()!r} is not {symbol}, the file's symbol"
            problems.refuse(line, bar.day, ProblemKind.WRONG_SYMBOL, reason)
            continue
        if currency is not None and (row.get(currency) or "USD").strip().upper() not in ("USD", ""):
            reason = f"{bar.day}: {currency} {(row.get(currency) or '').strip()!r} is not USD"
            problems.refuse(line, bar.day, ProblemKind.WRONG_CURRENCY, reason)
            continue
        if bar.day in seen:
            reason = f"date {bar.day} appears again (first on line {seen[bar.day]})"
            problems.refuse(line, bar.day, ProblemKind.DUPLICATE, reason)
            continue
        if bars and bar.day < bars[-1].day:
            # The rows after it are read only at the first row out of order (_newest_first's case): copied at every one,
            # a reversed file cost time growing with the square of its length (a reviewer: 0.14 s for 2,154 rows).
            rest = [r for _, r in numbered[at + 1 :]] if len(bars) == 1 else []
            reason = f"date {bar.day} does not come after {bars[-1].day}" + newest_first([*bars, bar], rest)
            problems.refuse(line, bar.day, ProblemKind.UNORDERED, reason)
        seen[bar.day] = line
        bars.append(bar)
        before, last = last, row.get(names["Date"]) or ""
    for line in among:
        problems.refuse(line, None, ProblemKind.UNREADABLE, blank_reason(line, ""))
    if problems.found:
        raise SeriesRejected(problems.said(), files=True)
    if not bars:  # a header alone: no range could be read from it (it was "no bars between ..." of every range)
        raise rejected(path, 1, symbol, None, ProblemKind.UNREADABLE, "the file holds its header and no rows")
    return bars, [seen[b.day] for b in bars], last_row_stamp(last, before)
