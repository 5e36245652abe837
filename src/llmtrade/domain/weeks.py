"""Week identity: a week runs from one Wednesday to the next, and is named by its Wednesday."""

from __future__ import annotations

from datetime import date, timedelta

_WEDNESDAY = 2

# The first day whose week begins on a date Python holds: 0001-01-01 and 0001-01-02's Wednesday is before year 1, and
# week_id_for raised OverflowError for them (a traceback, exit 1, from a date typed as --from or in a sweep file).
FIRST_WEEK_DAY = date(1, 1, 3)


def week_problem(day: date) -> str | None:
    """Why `day` cannot name a week (what a refusal says after the day), or None when it can."""
    if day >= FIRST_WEEK_DAY:
        return None
    return (
        f"is not a day of a week llmtrade can hold: its week (Wednesday to Tuesday) would begin before 0001-01-01, the "
        f"first day a date holds; give {FIRST_WEEK_DAY} or later"
    )


def week_id_for(day: date) -> date:
    """The Wednesday on or before `day` (week_id of DESIGN.md section 4)."""
    return day - timedelta(days=(day.weekday() - _WEDNESDAY) % 7)
