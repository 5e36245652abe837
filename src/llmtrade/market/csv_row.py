"""One row of a daily price file (market/csv_folder.py) as a Bar, or its refusal naming the file, line and what is
wrong: a date that cannot be read, a price not a finite positive number, a volume not a finite one at least 0, a
close outside its day's low-high (said once per file with its rows alike: csv_problems.py), a bar otherwise
inconsistent (a high below its low)."""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path

from pydantic import ValidationError

from llmtrade.domain.market import Bar
from llmtrade.market.calendar import NEW_YORK
from llmtrade.market.csv_problems import UNPARSABLE_DATE, close_outside, rejected
from llmtrade.market.validation import ProblemKind

REQUIRED = ("Date", "Open", "High", "Low", "Close", "Volume")


def row_bar(path: Path, line: int, symbol: str, row: dict[str, str]) -> Bar:
    try:
        day = _day((row["Date"] or "").strip())
    except ValueError:
        raise rejected(
            path, line, symbol, None, ProblemKind.UNREADABLE, f"{UNPARSABLE_DATE} {row['Date']!r} (expected YYYY-MM-DD)"
        ) from None
    values: dict[str, float] = {}
    for column in REQUIRED[1:]:
        text = (row.get(column) or "").strip()
        kind = ProblemKind.BAD_VOLUME if column == "Volume" else ProblemKind.BAD_PRICE
        try:
            values[column] = float(text)
        except ValueError:
            raise rejected(path, line, symbol, day, kind, f"{day}: {column} {text!r} is not a number") from None
        # float() reads "nan" and "inf" happily; a bar with either would poison every average.
        if not math.isfinite(values[column]):
            raise rejected(path, line, symbol, day, kind, f"{day}: {column} {text!r} is not a finite number")
        if values[column] < 0 or (column != "Volume" and values[column] == 0):
            what = "a non-negative volume" if column == "Volume" else "a positive price"
            raise rejected(path, line, symbol, day, kind, f"{day}: {column} {text} is not {what}")
    if (outside := close_outside(day, values)) is not None:  # said once per file, with its rows alike
        raise rejected(path, line, symbol, day, ProblemKind.INCONSISTENT, outside)
    try:
        return Bar(
            symbol=symbol,
            day=day,
            open=values["Open"],
            high=values["High"],
            low=values["Low"],
            close=values["Close"],
            volume=values["Volume"],
            source="csv",
        )
    except ValidationError as exc:
        # The message names the symbol; the problem's place already does (no "GLD: GLD 2024-02-06").
        problem = "; ".join(e["msg"].removeprefix("Value error, ").removeprefix(f"{symbol} ") for e in exc.errors())
        raise rejected(path, line, symbol, day, ProblemKind.INCONSISTENT, problem) from None


def _day(text: str) -> date:
    """The day a row's date cell names: its first ten characters, YYYY-MM-DD, and anything after them a time of that
    day (yfinance writes `2024-01-02 00:00:00-05:00`), read whole; ValueError otherwise. Its first ten alone were read,
    so `2024-01-031` (a digit too many) was a row of the 3rd, said nowhere."""
    day = date.fromisoformat(text[:10])
    if len(text) > 10 and datetime.fromisoformat(text).date() != day:
        raise ValueError(text)
    return day


def cell_stamp(text: str) -> datetime | None:
    """The instant a date cell names when it carries a time (`2026-01-09 14:32:05-05:00`; one without an offset is the
    exchange's, New York's), else None: what a row's own time says of when it was taken (csv_unfinished.py)."""
    text = text.strip()
    if len(text) <= 10:
        return None
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=NEW_YORK)


def last_row_stamp(last: str, before: str) -> datetime | None:
    """The last row's own time (`cell_stamp` of its date cell `last`), unless the row before it (`before`) carries the
    same time of day, as written or in New York (a convention kept across a change of daylight saving time): a time
    every row carries (noon, a vendor's habit; the close's 16:00 written as UTC) is how the file stamps its days, not
    when its last row was taken, and taken as that it left every new last row out alike."""
    stamp, prior = cell_stamp(last), cell_stamp(before)
    if stamp is None or prior is None:
        return stamp
    alike = prior.time() == stamp.time() or prior.astimezone(NEW_YORK).time() == stamp.astimezone(NEW_YORK).time()
    return None if alike else stamp
