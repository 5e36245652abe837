"""A daily file's rows written before their session closed (market/csv_folder.py): no final bars.

Yahoo's daily history, and most brokers' exports with it, hold the day's own row while its session trades: its Close
is the last trade at the export, its High, Low and Volume those so far. A file exported at 14:00 and read after the
16:00 close had that row taken as the session's bar: its close valued the books and filled orders at the close, and the
bar cache kept it as final. A row is judged by the file's modification time against its session's close on the NYSE
calendar: written before the close, it is left out (the symbol is short of that session, as at a feed whose bar is
not final yet: failures.py BarNotComplete, temporary), and read once the file is written again after the close (a
file is parsed once per size and modification time, so the new export is read at the next look).

Only the file's own time is compared, never the command's clock: a file written after a session's close holds its
final row whatever LLMTRADE_NOW says (a drill or a backtest over history reads files written long after), and one
written before it holds the unfinished row whatever instant the command takes as now. The row's open is final once the
session opened, and is kept for what reads the open alone (`unfinished` on the error; csv_quotes.py's daily-open).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from llmtrade.domain.market import Bar
from llmtrade.errors import BarNotComplete, MarketDataMissing
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.failures import PriceFileMissing, few


@dataclass(frozen=True)
class Unfinished:
    """The rows of one file written before their session closed: `bars` (ascending), `written` the file's modification
    time and `close` the first row's session's close, both in New York time."""

    path: Path
    bars: tuple[Bar, ...]
    written: datetime
    close: datetime
    by_row: bool = False  # `written` is the last row's own time (`unfinished_rows`' stamp), not the file's

    @property
    def day(self) -> date:
        return self.bars[0].day


# How far ahead of this machine's clock a file's modification time may be and still be taken as when it was written:
# a file system on another machine (a network share) stamps by its clock.
_AHEAD_NS = 60 * 10**9


def written_ns(found: os.stat_result, last: date | None, calendar: TradingCalendar) -> int:
    """When the file `found` describes was written, to judge its rows by, `last` its last row's day: its modification
    time, unless that cannot be it. A time before `last`'s session opened (no file holds a session's row before it
    began: a zip's stored times kept on unpacking, 1980-01-01 for a zip made without them, or `cp -p`, `rsync -t`) or
    ahead of this machine's clock (another machine's) is not; then the time its inode last changed (st_ctime: set by
    the system at every write, utime and rename, never carried over), which the unpacking or the copy set. Judged by
    the time it carried, every row of such a file was left out until the file was touched."""
    mtime = found.st_mtime_ns
    if mtime > time.time_ns() + _AHEAD_NS:
        return found.st_ctime_ns
    if last is None or not (calendar.first_day <= last <= calendar.last_day and calendar.is_session(last)):
        return mtime
    return found.st_ctime_ns if mtime < calendar.session_open(last).timestamp() * 1e9 else mtime


def unfinished_rows(
    path: Path, bars: Sequence[Bar], written_ns: int, calendar: TradingCalendar, stamp: datetime | None = None
) -> Unfinished | None:
    """The rows of `bars` (ascending, as read from `path`, modified at `written_ns`) whose session closed after the
    file was written; None when there is none, the common case found by one look at the last row (a later session
    closes later, so they can only be the last rows). Days off the calendar or its range are not judged (the reader
    refuses them itself). `stamp`: the last row's own time when its date cell has one (csv_row.py `cell_stamp`): inside
    its session (after the open, before the close) it is when the row was taken, earlier than the file's time when the
    file was copied or downloaded after the close (a `cp`, a checkout: a new modification time, the same rows).
    Midnight (yfinance's daily stamps) and the open (Yahoo's chart stamps a day's bar at it) say nothing of it."""
    written = datetime.fromtimestamp(written_ns / 1e9, UTC)
    by_row = bars and stamp is not None and _inside(bars[-1].day, stamp, calendar) and stamp < written
    if by_row and stamp is not None:
        written = stamp
    cut = len(bars)
    while cut and _closes_after(bars[cut - 1].day, written, calendar):
        cut -= 1
    if cut == len(bars):
        return None
    late = tuple(bars[cut:])
    return Unfinished(path, late, written.astimezone(NEW_YORK), calendar.session_close(late[0].day), bool(by_row))


def _inside(day: date, stamp: datetime, calendar: TradingCalendar) -> bool:
    """Whether `stamp` falls in `day`'s session, after its open and before its close."""
    if not calendar.first_day <= day <= calendar.last_day or not calendar.is_session(day):
        return False
    return calendar.session_open(day) < stamp < calendar.session_close(day)


def _closes_after(day: date, written: datetime, calendar: TradingCalendar) -> bool:
    if not calendar.first_day <= day <= calendar.last_day or not calendar.is_session(day):
        return False
    return calendar.session_close(day) > written


def unfinished_error(
    found: Mapping[str, Unfinished],
    answered: Mapping[str, list[Bar]],
    calendar: TradingCalendar,
    start: date,
    end: date,
    now: datetime,
) -> BarNotComplete | MarketDataMissing:
    """The error for the symbols whose files' rows were written before their session closed (`found`), `answered` the
    other symbols' bars, start..end the range asked, `now` the real world's (the machine's clock, never LLMTRADE_NOW):
    temporary (BarNotComplete) when the rows left out are of its last session, as a feed's bar not final yet; else the
    file is behind that session too, as a stale file is (MarketDataMissing, exit 1 when no provider has the bars).
    Either only while the file's exporter may still write it again (`_stale`): a row of a session long closed stays
    as it is however often the command runs again, so it is the file's or the range's to mend (exit 2, said how)."""
    symbols = list(found)
    stale = {s: u for s, u in found.items() if _stale(u.day, now, calendar)}
    if stale:
        # A trial's backtest over 2024 exited 75 and its leaderboard said to run it again later, which never helps.
        return PriceFileMissing(unfinished_said(found) + _mend(stale), symbols=symbols, answered=answered)
    message = unfinished_said(found)
    days = calendar.sessions_between(max(start, calendar.first_day), min(end, calendar.last_day))
    last = days[-1] if days else None
    if last is not None and all(u.day == last for u in found.values()):
        unfinished = {s: list(u.bars) for s, u in found.items()}
        return BarNotComplete(message, session=last, symbols=symbols, answered=answered, unfinished=unfinished)
    return MarketDataMissing(message, symbols=symbols, answered=answered)


def _stale(day: date, now: datetime, calendar: TradingCalendar) -> bool:
    """Whether a row of `day`'s session written while it traded can no longer be an export still to be redone: the
    session after it has closed too by the real clock (`now`), so `day` is neither today's session nor the last one
    (an exporter run after the close, the same night or before the next close, has had its time)."""
    if not calendar.first_day <= day < calendar.last_day or not calendar.is_session(day):
        return False
    return calendar.session_close(calendar.next_session(day)) <= now


def _mend(stale: Mapping[str, Unfinished]) -> str:
    """What to do about rows of sessions long closed, the files and rows named."""
    files = few([f"{u.path} (its row of {u.day})" for u in stale.values()], noun="files")
    before = min(u.day for u in stale.values())
    return (
        f"; that session closed long ago, so running the same command again later will not help: write {files} "
        f"again with the session's final row (or delete that row and let another provider supply it), or end the "
        f"range before {before}"
    )


def unfinished_said(found: Mapping[str, Unfinished]) -> str:
    """What a read says of `found`: the files, their rows' session, when they were written and when it closed; files of
    the same session said together."""
    by_day: dict[date, list[Unfinished]] = {}
    for unfinished in found.values():
        by_day.setdefault(unfinished.day, []).append(unfinished)
    said = []
    for day, files in sorted(by_day.items()):
        one = len(files) == 1
        times = sorted({f"{u.written:%Y-%m-%d %H:%M:%S}" for u in files})
        when = f"at {times[0]}" if len(times) == 1 else f"between {times[0]} and {times[-1]}"
        kinds = sorted({"the row's own time" if u.by_row else "the file's modification time" for u in files})
        said.append(
            f"no final row of {day} in {few([str(u.path) for u in files], noun='files')} yet: "
            f"{'it was' if one else 'they were'} written {when} New York ({' or '.join(kinds)}), before that "
            f"session's close at {files[0].close:%H:%M}, so {'its' if one else 'their'} row of {day} is the one "
            "exported while the session traded (its Close the last trade then, its High, Low and Volume partial): "
            "left out until the file is written again after the close"
        )
    return "; ".join(said)
