"""The time a question to `llmtrade ask` names, read in New York as the market is.

Read: a date (2026-12-03, also at the head of a time), "today", "yesterday" (the previous trading session through
yesterday), "the day before yesterday" (the session before that), a weekday ("Thursday": the latest, today on a
Thursday; "last Thursday": the week before), "this week" and "last week" (llmtrade's weeks, Wednesday to Tuesday, as
the weekly run and the postmortem count them) and a part of the day it names ("this morning", "Thursday
afternoon": morning before 12:00, afternoon 12:00 to 18:00, evening and "tonight" from 18:00). Any other relative time
("last month", "tomorrow", "3 days ago", "last night") is refused naming it: read without it, the question listed the
latest events as if it had named no time.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from llmtrade.config.times import calendar_day
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import UsageError
from llmtrade.market.calendar import NEW_YORK, TradingCalendar, new_york_date

READ = (
    "a date (YYYY-MM-DD), today, yesterday, the day before yesterday, a weekday (last Thursday), this week, last week, "
    "or a part of such a day (this morning, Thursday afternoon, this evening, tonight)"
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A date as the question writes it, also at the head of a time (2026-12-02T10:00); a looser shape (2026-12-3) is
# refused rather than read without its date, which listed the latest events as if none had been asked for.
_DATE_SHAPED = re.compile(r"(?<![\d-])\d{4}-\d{1,2}-\d{1,2}(?![\d-])")
_WEEK = re.compile(r"\b(this|last|past|previous)\s+week\b")
# Parts of a day, [start, end) in New York hours.
_PARTS = {"morning": (0, 12), "afternoon": (12, 18), "evening": (18, 24), "tonight": (18, 24)}
_PART = re.compile(r"\b(morning|afternoon|evening|tonight)\b")
# Relative times this reader has no answer for. Each was read as no time at all, so the question listed the latest
# events unfiltered and looked answered ("what did acct_3 do last month?" listed this week's).
_UNREAD = re.compile(
    r"\b(?:tomorrow|tonite|"
    r"(?:next|coming)\s+(?:week|month|year|quarter|session|day|weekend|" + "|".join(_WEEKDAYS) + r")|"
    r"(?:this|last|past|previous)\s+(?:month|year|quarter|weekend|night|hour|session|few\s+\w+|\d+\s+\w+)|"
    r"(?:a|an|one|two|three|four|five|six|seven|\d+)\s+(?:days?|weeks?|months?|years?|hours?|sessions?)\s+ago|"
    r"(?:the\s+)?(?:week|month|year)\s+before|week\s*end)\b"
)


def named_time(text: str, now: datetime) -> tuple[datetime, datetime] | None:
    """[since, until) in New York that the lower-cased question `text` names, asked at `now`, or None for no time.

    Raises UsageError for a date that is none (2026-02-30), one written loosely (2026-12-3) or a relative time it
    does not read (see the module docstring), naming the words and what it reads instead."""
    today = new_york_date(now)
    unread = _UNREAD.search(text)
    if unread:
        raise UsageError(f"the question says {unread.group(0)!r}, a time ask does not read; name {READ}")
    days = _days(text, today)
    if days is None:
        part = _PART.search(text)
        if part is None:
            return None
        days = today, today  # "this morning", "tonight": today's
    since, until = _start(days[0]), _start(days[1] + timedelta(days=1))
    part = _PART.search(text)
    if part is not None:
        if days[0] != days[1] and not _is_session_span(text):
            raise UsageError(f"the question says {part.group(0)!r} of more than one day; name one day: {READ}")
        first, last = _PARTS[part.group(1)]
        since, until = _start(days[0], first), _start(days[0], 0) + timedelta(hours=last)
    return since, until


def _is_session_span(text: str) -> bool:
    # "yesterday morning" asked on a Monday: the morning of yesterday's session (Friday), as "yesterday" reads.
    return "yesterday" in text and not _WEEK.search(text)


def _start(day: date, hour: int = 0) -> datetime:
    """The New York instant `hour`:00 of `day` (its zone's offset that day, so a DST change is kept)."""
    return datetime.combine(day, time(hour), tzinfo=NEW_YORK)


def _days(text: str, today: date) -> tuple[date, date] | None:
    """The first and last New York day (inclusive) the question's words name, or None when they name none."""
    # 2026-12-3 is the day it says, as on the command line (config/times.py): it was refused, "write a date as
    # YYYY-MM-DD (2026-12-03)", an example read as a correction. A day that does not exist says which part is wrong.
    explicit = _DATE_SHAPED.search(text)
    if explicit:
        try:
            day = calendar_day(explicit.group(0))
        except ValueError as exc:  # 2026-02-30: shaped as a date, none (a traceback in a new user's trial)
            reason = str(exc).split(": ", 1)[-1]
            raise UsageError(f"the question names {explicit.group(0)!r}, which is no date ({reason})") from None
        if day == date.max:  # its events end at the next day's start, which no date holds (it was a traceback)
            raise UsageError(
                f"the question names {explicit.group(0)!r}, which is no day llmtrade can list the events of: they "
                "run to the start of the day after it, and no date holds that day"
            )
        return day, day
    if "yesterday" in text:
        # Asked of a market that trades on sessions, "yesterday" is the previous session: asked on a Monday it read
        # Sunday and listed nothing of Friday's trading (a trial). The closed days after that session through
        # yesterday are kept too (a wake-up on a Sunday is there). "The day before yesterday": one session further.
        calendar = TradingCalendar()
        last = today - timedelta(days=1)
        first = calendar.previous_session(today)
        if "before yesterday" in text:
            last = first - timedelta(days=1)
            first = calendar.previous_session(first)
        return first, last
    week = _WEEK.search(text)
    if week:
        # The week as llmtrade counts it (the weekly run's Wednesday to the postmortem's Tuesday), as its events' week
        # ids and the postmortem do; "this week" runs to today.
        start = week_id_for(today)
        if week.group(1) == "this":
            return start, today
        return start - timedelta(days=7), start - timedelta(days=1)
    if re.search(r"\btoday\b", text):
        return today, today
    for n, name in enumerate(_WEEKDAYS):
        said = re.search(rf"\b(last\s+)?{name}\b", text)
        if said:
            # "on Thursday" asked on a Thursday is today (a trial read it as the week before, listing last week's
            # exit for today's); "last Thursday" asked on a Thursday is the week before, as a person means it.
            back = (today.weekday() - n) % 7 or (7 if said.group(1) else 0)
            return today - timedelta(days=back), today - timedelta(days=back)
    return None


def week_words(now: datetime) -> str:
    """What "this week" and "last week" mean asked at `now`, for the live model's system prompt."""
    start = week_id_for(new_york_date(now))
    before = start - timedelta(days=7)
    return (
        f'"This week" is llmtrade\'s week {start:%Y-%m-%d} (Wednesday to Tuesday), "last week" {before:%Y-%m-%d} '
        f"(from Wednesday {before:%Y-%m-%d} to Tuesday {start - timedelta(days=1):%Y-%m-%d})."
    )
