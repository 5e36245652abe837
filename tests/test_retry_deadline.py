"""schedule.yaml `retry_until`: until when a job retries model calls that failed for a temporary reason."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import load_config, write_defaults
from llmtrade.config.models import ScheduleConfig
from llmtrade.config_errors import ConfigError
from llmtrade.market.calendar import TradingCalendar
from llmtrade.workflows.job_deadlines import retry_deadline
from llmtrade.workflows.schedule import JobKind, week_jobs

NEW_YORK = ZoneInfo("America/New_York")
WEEK = date(2026, 1, 7)
runner = CliRunner()


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=NEW_YORK)


@pytest.fixture
def calendar() -> TradingCalendar:
    return TradingCalendar()


def test_by_default_the_weekly_run_retries_until_the_first_checkpoint(calendar: TradingCalendar) -> None:
    schedule = load_config(None).config.schedule
    assert schedule.retry_until == "next_job"
    assert retry_deadline(schedule, calendar, JobKind.WEEKLY, WEEK) == ny(7, 9)


def test_without_checkpoints_the_weekly_run_retries_until_the_close(calendar: TradingCalendar) -> None:
    schedule = ScheduleConfig(checkpoints=[])
    assert retry_deadline(schedule, calendar, JobKind.WEEKLY, WEEK) == ny(7, 16)


def test_a_checkpoint_retries_until_the_next_one_and_the_last_until_the_close(calendar: TradingCalendar) -> None:
    schedule = ScheduleConfig()
    assert retry_deadline(schedule, calendar, JobKind.CHECKPOINT, WEEK, date(2026, 1, 8), "12:00") == ny(8, 14)
    assert retry_deadline(schedule, calendar, JobKind.CHECKPOINT, WEEK, date(2026, 1, 8), "15:50") == ny(8, 16)


def test_a_postmortem_retries_until_the_next_weekly_run(calendar: TradingCalendar) -> None:
    assert retry_deadline(ScheduleConfig(), calendar, JobKind.POSTMORTEM, WEEK) == ny(14, 8)


def test_minutes_count_from_the_jobs_scheduled_time(calendar: TradingCalendar) -> None:
    schedule = ScheduleConfig(retry_until=90)
    assert retry_deadline(schedule, calendar, JobKind.WEEKLY, WEEK) == ny(7, 9, 30)
    assert retry_deadline(schedule, calendar, JobKind.CHECKPOINT, WEEK, date(2026, 1, 7), "14:00") == ny(7, 15, 30)


@pytest.mark.parametrize(
    ("value", "shown"),
    [('"90"', "'90'"), ("tomorrow", "'tomorrow'"), ("-5", "-5"), ("yes", "'yes'"), ("20000", "20000")],
)
def test_retry_until_is_strict(tmp_path: Path, value: str, shown: str) -> None:
    write_defaults(tmp_path)
    path = tmp_path / "schedule.yaml"
    path.write_text(path.read_text().replace("retry_until: next_job", f"retry_until: {value}"))
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert "retry_until" in str(caught.value) and shown in str(caught.value)


def test_config_validate_shows_the_retry_deadline(tmp_path: Path) -> None:
    write_defaults(tmp_path)
    shown = runner.invoke(app, ["--config", str(tmp_path), "config", "validate"])
    assert shown.exit_code == 0, shown.output
    assert "retried until the next scheduled job" in shown.output
    path = tmp_path / "schedule.yaml"
    path.write_text(path.read_text().replace("retry_until: next_job", "retry_until: 45"))
    shown = runner.invoke(app, ["--config", str(tmp_path), "config", "validate"])
    assert "retried for 45 minutes after a job's time" in shown.output


def test_every_checkpoints_deadline_from_its_weeks_kept_instants_is_the_next_scheduled_one_or_the_close(
    calendar: TradingCalendar,
) -> None:
    # Weeks with a holiday (MLK day, Good Friday, Thanksgiving's early close) beside plain ones; a second schedule
    # asked for the same weeks after the first must not get the first one's kept instants.
    weeks = [date(2026, 1, 14), date(2026, 1, 21), date(2026, 4, 1), date(2026, 11, 25), date(2026, 12, 2)]
    for schedule in (ScheduleConfig(), ScheduleConfig(checkpoints=["10:00", "14:00"])):
        for week in weeks:
            checkpoints = [j for j in week_jobs(schedule, calendar, week) if j.kind is JobKind.CHECKPOINT]
            assert checkpoints
            for job in checkpoints:
                later = [c.at for c in checkpoints if c.day == job.day and c.at > job.at]
                expected = later[0] if later else calendar.session_close(job.day)
                assert retry_deadline(schedule, calendar, JobKind.CHECKPOINT, week, job.day, job.time) == expected
