"""Week identity: a week runs from one Wednesday to the next, and is named by its Wednesday."""

from __future__ import annotations

from datetime import date, timedelta

_WEDNESDAY = 2


def week_id_for(day: date) -> date:
    """The Wednesday on or before `day` (week_id of DESIGN.md section 4)."""
    return day - timedelta(days=(day.weekday() - _WEDNESDAY) % 7)
