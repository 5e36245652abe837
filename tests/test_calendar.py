"""The NYSE calendar: holidays, early closes, New York time whatever the caller's or the machine's zone."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from llmtrade.errors import MarketDataError
from llmtrade.market.calendar import TradingCalendar, week_id_of

NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def calendar() -> TradingCalendar:
    return TradingCalendar()


@pytest.fixture
def machine_in_tokyo() -> Iterator[None]:
    """Pretend the machine runs on Tokyo time, so any reliance on the local zone shows up."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


def ny(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=NEW_YORK)


def test_new_year_is_not_a_session_and_next_session_skips_it(calendar: TradingCalendar) -> None:
    assert not calendar.is_session(date(2026, 1, 1))
    assert calendar.is_session(date(2025, 12, 31))
    assert calendar.next_session(date(2025, 12, 31)) == date(2026, 1, 2)
    assert calendar.previous_session(date(2026, 1, 2)) == date(2025, 12, 31)


def test_weekends_are_not_sessions(calendar: TradingCalendar) -> None:
    assert not calendar.is_session(date(2025, 12, 20))  # Saturday
    assert not calendar.is_session(date(2025, 12, 21))  # Sunday
    assert calendar.next_session(date(2025, 12, 19)) == date(2025, 12, 22)
    assert calendar.previous_session(date(2025, 12, 22)) == date(2025, 12, 19)


def test_early_closes_are_at_1300_new_york(calendar: TradingCalendar) -> None:
    assert calendar.session_close(date(2025, 11, 28)) == ny(2025, 11, 28, 13)  # day after Thanksgiving
    assert calendar.session_close(date(2025, 12, 24)) == ny(2025, 12, 24, 13)  # Christmas Eve
    assert calendar.session_open(date(2025, 12, 24)) == ny(2025, 12, 24, 9, 30)


def test_normal_session_runs_0930_to_1600_new_york(calendar: TradingCalendar) -> None:
    assert calendar.session_open(date(2025, 12, 23)) == ny(2025, 12, 23, 9, 30)
    assert calendar.session_close(date(2025, 12, 23)) == ny(2025, 12, 23, 16)
    # Summer time too: the wall-clock hours stay put while the UTC hours move.
    assert calendar.session_open(date(2025, 7, 15)) == datetime(2025, 7, 15, 13, 30, tzinfo=UTC)
    assert calendar.session_close(date(2025, 7, 15)) == datetime(2025, 7, 15, 20, tzinfo=UTC)


def test_session_times_are_reported_in_new_york(calendar: TradingCalendar) -> None:
    opened = calendar.session_open(date(2025, 12, 23))
    assert opened.tzinfo == NEW_YORK
    assert (opened.hour, opened.minute) == (9, 30)


def test_non_session_day_raises_market_data_error(calendar: TradingCalendar) -> None:
    with pytest.raises(MarketDataError, match=r"2026-01-01 \(Thursday\) is not an NYSE trading session"):
        calendar.session_open(date(2026, 1, 1))
    with pytest.raises(MarketDataError, match="2025-11-27"):
        calendar.session_close(date(2025, 11, 27))  # Thanksgiving
    with pytest.raises(MarketDataError, match="Saturday"):
        calendar.session_open(date(2025, 12, 20))


def test_dates_outside_the_calendar_raise_market_data_error(calendar: TradingCalendar) -> None:
    with pytest.raises(MarketDataError, match="outside the NYSE calendar"):
        calendar.is_session(date(1999, 12, 31))
    with pytest.raises(MarketDataError, match="outside the NYSE calendar"):
        calendar.is_session(calendar.last_day + timedelta(days=1))


def test_is_open_around_open_and_close_in_new_york_time(calendar: TradingCalendar) -> None:
    assert not calendar.is_open(ny(2025, 12, 23, 9, 29, 59))
    assert calendar.is_open(ny(2025, 12, 23, 9, 30))
    assert calendar.is_open(ny(2025, 12, 23, 15, 59, 59))
    assert not calendar.is_open(ny(2025, 12, 23, 16))


def test_is_open_with_utc_datetimes(calendar: TradingCalendar) -> None:
    # 2025-12-23 is winter time: New York is UTC-5, so the session is 14:30-21:00 UTC.
    assert not calendar.is_open(datetime(2025, 12, 23, 14, 29, 59, tzinfo=UTC))
    assert calendar.is_open(datetime(2025, 12, 23, 14, 30, tzinfo=UTC))
    assert calendar.is_open(datetime(2025, 12, 23, 20, 59, 59, tzinfo=UTC))
    assert not calendar.is_open(datetime(2025, 12, 23, 21, tzinfo=UTC))


def test_is_open_with_tokyo_datetimes(calendar: TradingCalendar) -> None:
    # Tokyo is UTC+9: the New York session of 12-23 runs 23:30 on 12-23 to 06:00 on 12-24 Tokyo time.
    assert not calendar.is_open(datetime(2025, 12, 23, 23, 29, 59, tzinfo=TOKYO))
    assert calendar.is_open(datetime(2025, 12, 23, 23, 30, tzinfo=TOKYO))
    assert calendar.is_open(datetime(2025, 12, 24, 5, 59, 59, tzinfo=TOKYO))
    assert not calendar.is_open(datetime(2025, 12, 24, 6, tzinfo=TOKYO))


def test_is_open_on_early_close_day_and_holiday(calendar: TradingCalendar) -> None:
    assert calendar.is_open(ny(2025, 11, 28, 12, 59, 59))
    assert not calendar.is_open(ny(2025, 11, 28, 13))
    assert not calendar.is_open(ny(2025, 11, 27, 12))  # Thanksgiving, midday


def test_answers_do_not_depend_on_the_machine_time_zone(calendar: TradingCalendar, machine_in_tokyo: None) -> None:
    assert time.localtime(0).tm_gmtoff == 9 * 3600  # the fixture really moved the machine to Tokyo
    assert calendar.session_open(date(2025, 12, 23)) == ny(2025, 12, 23, 9, 30)
    assert calendar.is_open(datetime(2025, 12, 23, 14, 30, tzinfo=UTC))
    assert not calendar.is_open(datetime(2025, 12, 23, 21, tzinfo=UTC))
    assert calendar.last_completed_session(datetime(2025, 12, 23, 21, tzinfo=UTC)) == date(2025, 12, 23)
    # 03:00 UTC on Wednesday 12-10 is still Tuesday evening in New York (and already noon Wednesday in Tokyo).
    assert week_id_of(datetime(2025, 12, 10, 3, tzinfo=UTC)) == date(2025, 12, 3)


def test_naive_datetimes_are_refused(calendar: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        calendar.is_open(datetime(2025, 12, 23, 10))
    with pytest.raises(ValueError, match="no time zone"):
        calendar.next_open(datetime(2025, 12, 23, 10))
    with pytest.raises(ValueError, match="no time zone"):
        calendar.last_completed_session(datetime(2025, 12, 23, 16))
    with pytest.raises(ValueError, match="no time zone"):
        week_id_of(datetime(2025, 12, 23, 16))


def test_next_open_from_saturday_is_monday_0930(calendar: TradingCalendar) -> None:
    assert calendar.next_open(ny(2025, 12, 20, 12)) == ny(2025, 12, 22, 9, 30)
    assert calendar.next_open(datetime(2025, 12, 20, 12, tzinfo=TOKYO)) == ny(2025, 12, 22, 9, 30)


def test_next_open_same_day_before_open_and_next_day_from_open_on(calendar: TradingCalendar) -> None:
    assert calendar.next_open(ny(2025, 12, 23, 8)) == ny(2025, 12, 23, 9, 30)
    assert calendar.next_open(ny(2025, 12, 23, 9, 30)) == ny(2025, 12, 24, 9, 30)  # strictly after
    assert calendar.next_open(ny(2025, 12, 24, 14)) == ny(2025, 12, 26, 9, 30)  # over Christmas


def test_last_completed_session_turns_over_at_the_close(calendar: TradingCalendar) -> None:
    assert calendar.last_completed_session(ny(2025, 12, 23, 15, 59)) == date(2025, 12, 22)
    assert calendar.last_completed_session(ny(2025, 12, 23, 16)) == date(2025, 12, 23)
    # Early close: the bar is complete at 13:00, not 16:00.
    assert calendar.last_completed_session(ny(2025, 11, 28, 12, 59)) == date(2025, 11, 26)
    assert calendar.last_completed_session(ny(2025, 11, 28, 13)) == date(2025, 11, 28)
    # Over a weekend the Friday session stays the latest.
    assert calendar.last_completed_session(ny(2025, 12, 21, 12)) == date(2025, 12, 19)


def test_week_id_of_every_weekday_of_a_week() -> None:
    week = date(2025, 12, 3)  # a Wednesday
    for offset in range(7):  # Wednesday 12-03 through Tuesday 12-09
        at = datetime.combine(week + timedelta(days=offset), datetime.min.time(), NEW_YORK).replace(hour=12)
        assert week_id_of(at) == week, at
    assert week_id_of(ny(2025, 12, 10, 0)) == date(2025, 12, 10)  # the next Wednesday starts the next week


def test_week_id_of_uses_the_new_york_date_of_a_utc_instant() -> None:
    # 2025-12-10 03:00 UTC is 2025-12-09 22:00 in New York: still Tuesday, still the week of 12-03.
    assert week_id_of(datetime(2025, 12, 10, 3, tzinfo=UTC)) == date(2025, 12, 3)
    assert week_id_of(datetime(2025, 12, 10, 5, tzinfo=UTC)) == date(2025, 12, 10)


def test_week_sessions_skip_thanksgiving(calendar: TradingCalendar) -> None:
    sessions = calendar.week_sessions(date(2025, 11, 26))
    assert sessions == [date(2025, 11, 26), date(2025, 11, 28), date(2025, 12, 1), date(2025, 12, 2)]
    assert calendar.session_close(sessions[1]) == ny(2025, 11, 28, 13)


def test_week_sessions_of_a_full_week(calendar: TradingCalendar) -> None:
    assert calendar.week_sessions(date(2025, 12, 3)) == [
        date(2025, 12, 3),
        date(2025, 12, 4),
        date(2025, 12, 5),
        date(2025, 12, 8),
        date(2025, 12, 9),
    ]


def test_week_sessions_needs_a_wednesday(calendar: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="Wednesday"):
        calendar.week_sessions(date(2025, 12, 4))


def test_sessions_between_is_inclusive(calendar: TradingCalendar) -> None:
    assert calendar.sessions_between(date(2025, 12, 23), date(2025, 12, 29)) == [
        date(2025, 12, 23),
        date(2025, 12, 24),
        date(2025, 12, 26),
        date(2025, 12, 29),
    ]
    assert calendar.sessions_between(date(2025, 12, 25), date(2025, 12, 25)) == []
    assert calendar.sessions_between(date(2025, 12, 29), date(2025, 12, 23)) == []
