"""A price file's rows against the NYSE calendar (market/csv_folder.py): a session missing between two of its rows, or
a row on a day the exchange was closed, is the file's own fault, as a date written twice is, and is refused the same
way (SeriesRejected `files`: exit 2), naming the file, the lines around the gap or the row's line, and the date.

Found by the market service's validator instead (market/validation.py), such a hole was said without a line and
exited 1, while the row written twice beside it exited 2: both are the file's to mend. Only the days between the
file's first and last row in the range asked are its own: the sessions after its last row are a file not written yet,
or a symbol that stopped trading (the validator's stale tail), and those before its first a symbol listed later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from itertools import pairwise
from pathlib import Path

from llmtrade.domain.market import Bar
from llmtrade.domain.wording import counted, named_first
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.csv_problems import FileProblems
from llmtrade.market.validation import BarProblem, ProblemKind

# How many dates one hole's reason lists: a file missing a month says its first days and how many more.
_DAYS_SHOWN = 5


def session_problems(
    path: Path, symbol: str, bars: Sequence[Bar], lines: Sequence[int], calendar: TradingCalendar
) -> list[BarProblem]:
    """The problems of `bars` (ascending, as read from `path`; `lines`: each bar's line in it) against the NYSE
    sessions from the first bar's day to the last's: each run of sessions missing between two rows (named by the two
    rows' lines and every missing day), each row on a day that is no session (its line; rows alike said once, with
    their lines: a timezone shift moves every row). Empty when the rows hold every session between them and no other
    day. Days outside the calendar's range are not judged (the market service refuses such a range itself)."""
    first, last = calendar.first_day, calendar.last_day
    if bars and first <= bars[0].day and bars[-1].day <= last:
        # The common case in one comparison: a backtest reads a file's range at every checkpoint.
        sessions = calendar.sessions_between(bars[0].day, bars[-1].day)
        if len(sessions) == len(bars) and sessions == [b.day for b in bars]:
            return []
    inside = [(b, n) for b, n in zip(bars, lines, strict=True) if first <= b.day <= last]
    if not inside:
        return []
    sessions = calendar.sessions_between(inside[0][0].day, inside[-1][0].day)
    known = set(sessions)
    problems = FileProblems(path, symbol)
    for bar, line in inside:
        if bar.day not in known:
            reason = f"{bar.day} ({bar.day:%A}) is not an NYSE session: the exchange was closed that day"
            problems.refuse(line, bar.day, ProblemKind.NOT_A_SESSION, reason)
    on_sessions = [(b.day, n) for b, n in inside if b.day in known]
    at = {day: i for i, day in enumerate(sessions)}
    for (before, above), (after, below) in pairwise(on_sessions):
        missing = sessions[at[before] + 1 : at[after]]
        if missing:
            shown = named_first([d.isoformat() for d in missing], _DAYS_SHOWN)
            reason = f"missing {counted(len(missing), 'NYSE session')} between {before} and {after}: {shown}"
            where = f"{path}, lines {above}-{below}"
            problems.add(
                BarProblem(symbol=symbol, kind=ProblemKind.MISSING_SESSION, days=missing, reason=reason, where=where)
            )
    return problems.said() if problems.found else []


def ahead_problems(path: Path, symbol: str, bars: Sequence[Bar], lines: Sequence[int], today: date) -> list[BarProblem]:
    """The rows of `bars` (as read from `path` for the range asked; `lines`: each bar's line) dated after `today`, the
    machine's day in New York: a day that has not happened, so not a price anyone traded at (a typo, the wrong year,
    a provider's template with future dates). Read as if it had, a backtest valued its books at it and a live read
    priced a session to come; refused as the file's to mend (exit 2) naming the file and line. Only the range asked
    is judged: a backtest that ends before such a row does not need it."""
    problems = FileProblems(path, symbol)
    for bar, line in zip(bars, lines, strict=True):
        if bar.day > today:
            reason = f"{bar.day} is after today ({today}, the machine's clock): a bar for a day that has not happened"
            problems.refuse(line, bar.day, ProblemKind.AHEAD, reason)
    return problems.said() if problems.found else []
