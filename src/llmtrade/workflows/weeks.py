"""Which week a command works on, and the instant its research is as of."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from llmtrade.config.models import ScheduleConfig, Weekday
from llmtrade.domain.weeks import week_id_for

NEW_YORK = ZoneInfo("America/New_York")
_OFFSET_FROM_WEDNESDAY = {
    Weekday.WEDNESDAY: 0,
    Weekday.THURSDAY: 1,
    Weekday.FRIDAY: 2,
    Weekday.MONDAY: 5,
    Weekday.TUESDAY: 6,
}


def weekly_run_instant(week_id: date, schedule: ScheduleConfig) -> datetime:
    day = week_id + timedelta(days=_OFFSET_FROM_WEDNESDAY[schedule.weekly_run.day])
    hour, minute = (int(p) for p in schedule.weekly_run.time.split(":"))
    return datetime.combine(day, time(hour, minute), NEW_YORK)


def resolve_week(now: datetime, week: date | None, schedule: ScheduleConfig) -> tuple[date, datetime]:
    """(week_id, as-of instant): the week's scheduled run time, or now if that is still ahead."""
    week_id = week_id_for(week) if week is not None else week_id_for(now.astimezone(NEW_YORK).date())
    return week_id, min(weekly_run_instant(week_id, schedule), now)
