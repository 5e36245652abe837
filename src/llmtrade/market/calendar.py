"""The NYSE trading calendar, in New York time whatever the machine's time zone.

Point-in-time rests on this module: a daily bar of session D exists only from D's close on, and a
week is named by its Wednesday. exchange_calendars ("XNYS") knows holidays and early closes offline;
we ask it once, copy the schedule into plain sorted lists and answer everything with bisect, so
pandas is touched on the first call only and never at import time.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import warnings
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import MarketDataError
from llmtrade.paths import home

NEW_YORK = ZoneInfo("America/New_York")

# Backtests reach back to 2000; two years ahead covers any schedule we plan today.
_FIRST_DAY = date(2000, 1, 1)
_HORIZON = timedelta(days=730)
_WEDNESDAY = 2


@dataclass(frozen=True)
class _Schedule:
    """The XNYS schedule as plain Python. Opens and closes are in UTC so comparisons never depend on wall time."""

    first_day: date
    last_day: date
    days: list[date]
    opens: list[datetime]
    closes: list[datetime]
    index: dict[date, int]


@cache
def _schedule() -> _Schedule:
    # Importing exchange_calendars (and pandas) costs ~0.4 s, which every cron command would pay; the
    # schedule it yields is kept on disk instead and rebuilt when the library changes or the horizon runs short.
    cached = _read_cache(_cache_file())
    if cached is not None:
        return cached
    schedule = _build()
    _write_cache(_cache_file(), schedule)
    return schedule


def _build() -> _Schedule:
    import exchange_calendars  # lazy: keeps CLI start-up fast

    last_day = datetime.now(NEW_YORK).date() + _HORIZON
    with warnings.catch_warnings():
        # exchange_calendars 4.x reads Series.values, which newer pandas deprecates; that is its business, and
        # the warning would otherwise land in the middle of a command's output.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        xnys = exchange_calendars.get_calendar("XNYS", start=_FIRST_DAY.isoformat(), end=last_day.isoformat())
    table = xnys.schedule
    days = [stamp.date() for stamp in table.index]
    opens = [stamp.to_pydatetime().astimezone(UTC) for stamp in table["open"]]
    closes = [stamp.to_pydatetime().astimezone(UTC) for stamp in table["close"]]
    return _Schedule(_FIRST_DAY, last_day, days, opens, closes, {day: i for i, day in enumerate(days)})


def _cache_file() -> Path:
    try:
        version = importlib.metadata.version("exchange_calendars")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return home() / "cache" / f"xnys-{version}.json"


def _read_cache(path: Path) -> _Schedule | None:
    try:
        data = json.loads(path.read_text())
        first_day, last_day = date.fromisoformat(data["first_day"]), date.fromisoformat(data["last_day"])
    except (OSError, ValueError, KeyError):
        return None
    if first_day != _FIRST_DAY or last_day < datetime.now(NEW_YORK).date() + _HORIZON / 2:
        return None  # built for another range, or its horizon is running out: rebuild
    days = [date.fromordinal(n) for n in data["days"]]
    opens = [datetime.fromtimestamp(t, UTC) for t in data["opens"]]
    closes = [datetime.fromtimestamp(t, UTC) for t in data["closes"]]
    if not (len(days) == len(opens) == len(closes)):
        return None
    return _Schedule(first_day, last_day, days, opens, closes, {day: i for i, day in enumerate(days)})


def _write_cache(path: Path, schedule: _Schedule) -> None:
    data = {
        "first_day": schedule.first_day.isoformat(),
        "last_day": schedule.last_day.isoformat(),
        "days": [d.toordinal() for d in schedule.days],
        "opens": [int(t.timestamp()) for t in schedule.opens],
        "closes": [int(t.timestamp()) for t in schedule.closes],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(data))
        partial.replace(path)  # atomic: a concurrent reader sees the old file or the new one
    except OSError:
        pass  # a read-only home only costs speed, never correctness


def _require_aware(at: datetime) -> None:
    # A naive datetime would be read in the machine's zone, which is exactly the bug this module exists to prevent.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone; pass a timezone-aware datetime")


def new_york_date(at: datetime) -> date:
    """The calendar date in New York at instant `at` (timezone-aware)."""
    _require_aware(at)
    return at.astimezone(NEW_YORK).date()


def week_id_of(at: datetime) -> date:
    """The week_id (Wednesday on or before the New York date) of instant `at`."""
    return week_id_for(new_york_date(at))


# last_completed_session's answers by instant (a tuple, so a None answer is kept too).
_COMPLETED: dict[datetime, tuple[date | None]] = {}
_COMPLETED_KEPT = 1024


class TradingCalendar:
    """NYSE sessions, opens and closes from 2000-01-01 to about two years past today.

    Cheap to construct: the schedule is shared by every instance and loaded on first use.
    Dates outside the covered range raise MarketDataError rather than guess.
    """

    @property
    def first_day(self) -> date:
        return _schedule().first_day

    @property
    def last_day(self) -> date:
        return _schedule().last_day

    def is_session(self, day: date) -> bool:
        return day in self._covered(day).index

    def session_open(self, day: date) -> datetime:
        """When session `day` opens, in New York time."""
        schedule = self._covered(day)
        return schedule.opens[self._session_index(schedule, day)].astimezone(NEW_YORK)

    def session_close(self, day: date) -> datetime:
        """When session `day` closes, in New York time (13:00 on early-close days)."""
        schedule = self._covered(day)
        return schedule.closes[self._session_index(schedule, day)].astimezone(NEW_YORK)

    def is_open(self, at: datetime) -> bool:
        """Whether the regular session is trading at `at`: open inclusive, close exclusive."""
        day = new_york_date(at)
        schedule = self._covered(day)
        i = schedule.index.get(day)
        return i is not None and schedule.opens[i] <= at < schedule.closes[i]

    def next_open(self, at: datetime) -> datetime:
        """The first session open strictly after `at` (today's open if `at` is before it), in New York time."""
        schedule = self._covered(new_york_date(at))
        i = bisect_right(schedule.opens, at)
        if i >= len(schedule.opens):
            raise MarketDataError(
                f"no NYSE session opens after {at.isoformat()} within the calendar (ends {self.last_day})"
            )
        return schedule.opens[i].astimezone(NEW_YORK)

    def previous_session(self, day: date) -> date:
        """The last session strictly before `day`."""
        schedule = self._covered(day)
        i = bisect_left(schedule.days, day) - 1
        if i < 0:
            raise MarketDataError(f"no NYSE session before {day} within the calendar (starts {schedule.first_day})")
        return schedule.days[i]

    def next_session(self, day: date) -> date:
        """The first session strictly after `day`."""
        schedule = self._covered(day)
        i = bisect_right(schedule.days, day)
        if i >= len(schedule.days):
            raise MarketDataError(f"no NYSE session after {day} within the calendar (ends {schedule.last_day})")
        return schedule.days[i]

    def sessions_between(self, start: date, end: date) -> list[date]:
        """Sessions from `start` to `end`, both inclusive; empty if `end` is before `start`."""
        self._covered(start)
        schedule = self._covered(end)
        return schedule.days[bisect_left(schedule.days, start) : bisect_right(schedule.days, end)]

    def last_completed_session(self, at: datetime) -> date | None:
        """The latest session whose close is at or before `at`: the newest daily bar that exists at `at`.

        None only when `at` falls before the first close the calendar knows.
        """
        known = _COMPLETED.get(at)
        if known is not None:
            return known[0]
        schedule = self._covered(new_york_date(at))
        i = bisect_right(schedule.closes, at) - 1
        answer = schedule.days[i] if i >= 0 else None
        # The answer depends on the instant alone (equal instants in any zone hash alike), and the schedule, loaded
        # once per process, never changes: a backtest's checkpoint asks it for every bar read at the same `now`,
        # and the bisect compares aware datetimes (a UTC conversion each).
        if len(_COMPLETED) >= _COMPLETED_KEPT:
            _COMPLETED.clear()
        _COMPLETED[at] = (answer,)
        return answer

    def week_sessions(self, week_id: date) -> list[date]:
        """Sessions of the week named `week_id`: its Wednesday through the following Tuesday."""
        if week_id.weekday() != _WEDNESDAY:
            raise ValueError(f"week_id {week_id} is a {week_id:%A}; a week is named by its Wednesday")
        return self.sessions_between(week_id, week_id + timedelta(days=6))

    @staticmethod
    def _covered(day: date) -> _Schedule:
        schedule = _schedule()
        if not schedule.first_day <= day <= schedule.last_day:
            raise MarketDataError(
                f"{day} is outside the NYSE calendar's range {schedule.first_day} to {schedule.last_day}"
            )
        return schedule

    @staticmethod
    def _session_index(schedule: _Schedule, day: date) -> int:
        i = schedule.index.get(day)
        if i is None:
            raise MarketDataError(f"{day} ({day:%A}) is not an NYSE trading session: the exchange is closed that day")
        return i
