"""An intraday file's rows (`intraday/SYMBOL.csv`: Timestamp,Price) as a quote reads them (market/csv_quotes.py).

Every row is checked before any is used, and a file wrong anywhere is the CSV folder's to mend, as a daily file's bad
row is (PriceFilesMisconfigured, exit 2), naming the file and line: a row that cannot be read, a timestamp without its
UTC offset or not after the row before it, a price not positive, and a row on a day the NYSE was closed. Such a row
(a Saturday, a holiday) priced no job, so it was read without a word; but no exchange printed it, and rows there are
what a timezone shift makes of a file (rows stamped with the wrong offset, or exported on a machine in Asia, move a
Friday evening onto Saturday) or another exchange's calendar: the file's other rows are then no more to be trusted.
The day is New York's, as the daily file's (Friday 21:00 after-hours, written in UTC, is Saturday 02:00 and passes).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

from llmtrade.domain.wording import counted, named_first
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.csv_problems import spans
from llmtrade.market.csv_text import NotText, blank_lines, blank_reason, decoded, delimiter, field_count
from llmtrade.market.failures import PriceFilesMisconfigured

# How many closed days one refusal names: a file shifted by a day has a closed day in every week.
_DAYS_NAMED = 5


def intraday_rows(path: Path, data: bytes) -> tuple[list[float], list[float]]:
    """(POSIX timestamps, prices) of the intraday file `path` whose bytes are `data`, as a quote reads them
    (csv_quotes.py `_read`); PriceFilesMisconfigured for a file that cannot be read as such (a sweep's run id hashes
    such a file whole)."""
    stamps: list[float] = []
    prices: list[float] = []
    for _, stamp, price in _rows(path, data):
        stamps.append(stamp)
        prices.append(price)
    return stamps, prices


def stamp_lines(path: Path, data: bytes) -> dict[float, int]:
    """Each row's line in the intraday file `path` (bytes `data`), by its POSIX timestamp: read as `intraday_rows`
    reads it, so a refusal of a row it gave names the row's line."""
    return {stamp: line for line, stamp, _ in _rows(path, data)}


def _rows(path: Path, data: bytes) -> Iterator[tuple[int, float, float]]:
    """Each row's line, POSIX timestamp and price, once the whole file is read and found good."""
    try:
        text = decoded(data)  # UTF-8, or UTF-16/UTF-32 by its byte-order mark, as a daily file
    except NotText as exc:
        raise PriceFilesMisconfigured(f"{path}, line {exc.line}: unreadable intraday file: {exc.reason}") from None
    lines = text.splitlines()
    sep = delimiter(lines[0]) if lines else ","
    reader = csv.DictReader(lines, delimiter=sep)
    blank, among = blank_lines(lines, sep)
    if among:  # as a daily file's (csv_text.py): refused among the rows, passed over after the last
        raise PriceFilesMisconfigured(f"{path}, line {among[0]}: {blank_reason(among[0], 'Timestamp,Price')}")
    columns = list(reader.fieldnames or [])
    # Matched as a daily file's header is (csv_folder.py): whatever the case, spaces around a name aside.
    named = {c.strip().lower(): c for c in columns}
    stamp_column, price_column = named.get("timestamp"), named.get("price")
    absent = [c for c, found in (("Timestamp", stamp_column), ("Price", price_column)) if found is None]
    if absent or stamp_column is None or price_column is None:
        raise PriceFilesMisconfigured(
            f"{path}, line 1: missing column(s) {', '.join(absent)} (layout: Timestamp,Price)"
        )
    closed = _ClosedDays(path)
    found: list[tuple[int, float, float]] = []
    for row in reader:
        if reader.line_num in blank:
            continue
        where = f"{path}, line {reader.line_num}"
        fields = field_count(row, columns)  # type: ignore[arg-type]
        if fields != len(columns):
            # "…,1,234.50" would read a price of 1: a comma inside a number shifts the columns (csv_folder.py).
            raise PriceFilesMisconfigured(
                f"{where}: {fields} fields where the header has {len(columns)} (a comma inside a number, such as "
                "1,234.50, must be quoted or left out)"
            )
        written, priced = (row[stamp_column] or "").strip(), (row[price_column] or "").strip()
        try:
            instant = datetime.fromisoformat(written)
            price = float(priced)
        except ValueError:
            raise PriceFilesMisconfigured(
                f"{where}: unreadable row {row!r} (expected an ISO timestamp and a number)"
            ) from None
        if instant.utcoffset() is None:
            # New York's offset of that instant: -05:00 named always was an hour wrong from March to November.
            offset = instant.replace(tzinfo=NEW_YORK).isoformat()[-6:]
            raise PriceFilesMisconfigured(
                f"{where}: timestamp {written!r} has no UTC offset (add {offset}, New York's then, or write it in UTC "
                "with Z)"
            )
        if not math.isfinite(price) or price <= 0:
            raise PriceFilesMisconfigured(f"{where}: price {priced!r} is not a positive number")
        stamp = instant.timestamp()
        if found and stamp <= found[-1][1]:
            raise PriceFilesMisconfigured(f"{where}: {instant.isoformat()} does not come after the row before it")
        closed.check(stamp, instant, reader.line_num)
        found.append((reader.line_num, stamp, price))
    if (refusal := closed.refusal()) is not None:
        raise refusal
    return iter(found)


class _ClosedDays:
    """The rows of one file (ascending) on New York days the NYSE was closed, found as the rows are read: a day is
    looked up once, when the rows cross into it, not per row (a year of minute rows is ~100,000)."""

    def __init__(self, path: Path):
        self.path = path
        self._calendar = TradingCalendar()
        self._until = -math.inf  # the end of the day of the last row looked up (a POSIX timestamp)
        self._open = True  # whether that day is a session (or outside the calendar: not judged)
        self._day: date | None = None
        self.found: list[tuple[int, str, date]] = []  # each such row's line, its timestamp as written, its day

    def check(self, stamp: float, instant: datetime, line: int) -> None:
        if stamp >= self._until:
            day = instant.astimezone(NEW_YORK).date()
            self._day = day
            self._until = datetime.combine(day + timedelta(days=1), time(), NEW_YORK).timestamp()
            calendar = self._calendar
            self._open = not calendar.first_day <= day <= calendar.last_day or calendar.is_session(day)
        if not self._open and self._day is not None:
            self.found.append((line, instant.isoformat(), self._day))

    def refusal(self) -> PriceFilesMisconfigured | None:
        """The file's refusal naming its first row on a closed day, and how many more there are with their lines and
        days (one shift moves every row: one fix), or None."""
        if not self.found:
            return None
        line, written, day = self.found[0]
        days = sorted({d for _, _, d in self.found})
        more = ""
        if len(self.found) > 1:
            named = named_first([f"{d} ({d:%A})" for d in days], _DAYS_NAMED)
            rest = [n for n, _, _ in self.found[1:]]
            more = f" (and {counted(len(rest), 'more row')} alike: {spans(rest)}; on {named})"
        return PriceFilesMisconfigured(
            f"{self.path}, line {line}: {written} is on {day} ({day:%A}), not an NYSE session: the exchange was closed "
            f"that day{more}. Remove such rows or fix their timestamps (a UTC offset written wrong, or a file exported "
            "in another timezone, moves rows onto closed days), and run again"
        )
