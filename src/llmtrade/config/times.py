"""Times of day and calendar days as a person writes them, read one way for the YAML files and the command line.

A new user's trial: `llmtrade checkpoint 9:00` was refused where `09:00` worked, while `2024-02-30` was refused as
"not a date (use YYYY-MM-DD)", the very form it was written in. Both read the same here: an hour of one or two
digits is the hour it says, and a value that is no time or no day is refused saying which part is out of range.
"""

from __future__ import annotations

import calendar
import re
from datetime import date

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")

TIME_FORM = "a 24-hour time H:MM or HH:MM, e.g. 9:00 or 15:50"


def clock_time(value: str) -> str:
    """`value` as HH:MM (`9:00` -> `09:00`); ValueError saying what is wrong with it when it is no time of day."""
    found = _CLOCK.match(value.strip())
    if found is None:
        raise ValueError(f"{value!r} is not {TIME_FORM}")
    hour, minute = int(found.group(1)), int(found.group(2))
    if hour > 23:
        raise ValueError(f"{value!r} is not a time of day: the hour is 0 to 23 ({TIME_FORM})")
    if minute > 59:
        raise ValueError(f"{value!r} is not a time of day: the minutes are 00 to 59 ({TIME_FORM})")
    return f"{hour:02d}:{minute:02d}"


def calendar_day(value: str) -> date:
    """`value` as a date: YYYY-MM-DD, a month or day of one digit too (`2024-1-5`), or ISO's compact 20240105;
    ValueError naming the part out of range for a day that does not exist (2024-02-30, 2024-13-01)."""
    text = value.strip()
    found = _DAY.match(text)
    if found is None:
        try:
            return date.fromisoformat(text)  # 20240105 and ISO's other forms, as before
        except ValueError:
            raise ValueError(f"{value!r} is not a date (use YYYY-MM-DD, e.g. 2024-01-03)") from None
    year, month, day = (int(part) for part in found.groups())
    if not 1 <= month <= 12:
        raise ValueError(f"{value!r} is not a date: the month is 1 to 12")
    last = calendar.monthrange(year, month)[1] if year >= 1 else 31
    if not 1 <= day <= last:
        raise ValueError(f"{value!r} is not a date: {calendar.month_name[month]} {year} has days 1 to {last}")
    try:
        return date(year, month, day)
    except ValueError as exc:  # year 0
        raise ValueError(f"{value!r} is not a date: {exc}") from None
