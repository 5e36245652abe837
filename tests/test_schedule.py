"""The job schedule: when the weekly run, the checkpoints and the postmortem fire, and what `run-due` runs."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import load_config
from llmtrade.config.models import PostmortemRun, ScheduleConfig, Weekday
from llmtrade.market.calendar import TradingCalendar
from llmtrade.workflows.crontab import crontab_lines, missed_checkpoints
from llmtrade.workflows.schedule import (
    Job,
    JobKind,
    due_jobs,
    jobs_between,
    next_fires,
    week_jobs,
)

NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
CHECKPOINTS = ["09:00", "12:00", "14:00", "15:50"]
runner = CliRunner()


@pytest.fixture
def schedule() -> ScheduleConfig:
    return load_config(None).config.schedule


@pytest.fixture
def calendar() -> TradingCalendar:
    return TradingCalendar()


def ny(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def of_kind(jobs: list[Job], kind: JobKind) -> list[Job]:
    return [job for job in jobs if job.kind is kind]


def keys(jobs: list[Job]) -> list[str]:
    return [job.key for job in jobs]


def done_before(schedule: ScheduleConfig, calendar: TradingCalendar, at: datetime) -> set[str]:
    """Keys of every job that fired in the month before `at`: a machine that never missed anything."""
    return set(keys(jobs_between(schedule, calendar, at - timedelta(days=30), at)))


# ---------------------------------------------------------------- what fires when


def test_normal_week_has_weekly_run_twenty_checkpoints_and_postmortem(
    schedule: ScheduleConfig, calendar: TradingCalendar
) -> None:
    jobs = week_jobs(schedule, calendar, date(2026, 1, 7))

    weekly = of_kind(jobs, JobKind.WEEKLY)
    assert len(weekly) == 1
    assert weekly[0].at == ny(2026, 1, 7, 8)
    assert weekly[0].key == "weekly:2026-01-07"

    checkpoints = of_kind(jobs, JobKind.CHECKPOINT)
    sessions = [date(2026, 1, 7), date(2026, 1, 8), date(2026, 1, 9), date(2026, 1, 12), date(2026, 1, 13)]
    assert [(job.day, job.time) for job in checkpoints] == [(day, t) for day in sessions for t in CHECKPOINTS]
    assert len(checkpoints) == 20
    assert {job.week_id for job in checkpoints} == {date(2026, 1, 7)}
    assert "checkpoint:2026-01-08T12:00" in keys(checkpoints)

    postmortem = of_kind(jobs, JobKind.POSTMORTEM)
    assert len(postmortem) == 1
    assert postmortem[0].at == ny(2026, 1, 13, 16, 30)
    assert postmortem[0].key == "postmortem:2026-01-07"
    assert postmortem[0].week_id == date(2026, 1, 7)

    assert [job.at for job in jobs] == sorted(job.at for job in jobs)
    assert all(job.at.tzinfo is NEW_YORK for job in jobs)


def test_jobs_between_is_half_open_and_sorted(schedule: ScheduleConfig, calendar: TradingCalendar) -> None:
    jobs = jobs_between(schedule, calendar, ny(2026, 1, 7, 8), ny(2026, 1, 7, 12))
    assert keys(jobs) == ["weekly:2026-01-07", "checkpoint:2026-01-07T09:00"]

    whole = jobs_between(schedule, calendar, ny(2026, 1, 1, 0), ny(2026, 1, 20, 0))
    assert [job.at for job in whole] == sorted(job.at for job in whole)
    assert "postmortem:2025-12-31" in keys(whole)
    assert "weekly:2026-01-14" in keys(whole)


def test_jobs_between_reads_any_time_zone_as_the_same_instant(
    schedule: ScheduleConfig, calendar: TradingCalendar
) -> None:
    start = ny(2026, 1, 7, 8).astimezone(TOKYO)
    end = ny(2026, 1, 7, 12).astimezone(TOKYO)
    assert keys(jobs_between(schedule, calendar, start, end)) == ["weekly:2026-01-07", "checkpoint:2026-01-07T09:00"]


def test_naive_datetimes_are_refused(schedule: ScheduleConfig, calendar: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="time zone"):
        due_jobs(schedule, calendar, datetime(2026, 1, 7, 8), done=set())


def test_wednesday_holiday_moves_weekly_run_to_thursday_of_the_same_week(
    schedule: ScheduleConfig, calendar: TradingCalendar
) -> None:
    # 2025-01-01, New Year's Day, is a Wednesday.
    jobs = week_jobs(schedule, calendar, date(2025, 1, 1))

    weekly = of_kind(jobs, JobKind.WEEKLY)
    assert len(weekly) == 1
    assert weekly[0].at == ny(2025, 1, 2, 8)
    assert weekly[0].week_id == date(2025, 1, 1)
    assert weekly[0].key == "weekly:2025-01-01"

    checkpoints = of_kind(jobs, JobKind.CHECKPOINT)
    assert checkpoints[0].at == ny(2025, 1, 2, 9)
    assert {job.day for job in checkpoints} == {date(2025, 1, 2), date(2025, 1, 3), date(2025, 1, 6), date(2025, 1, 7)}
    assert len(checkpoints) == 16


def test_early_close_skips_late_checkpoints_and_holiday_has_none(
    schedule: ScheduleConfig, calendar: TradingCalendar
) -> None:
    # Thanksgiving 2025-11-27 is closed; Friday 2025-11-28 closes at 13:00.
    checkpoints = of_kind(week_jobs(schedule, calendar, date(2025, 11, 26)), JobKind.CHECKPOINT)

    assert not [job for job in checkpoints if job.day == date(2025, 11, 27)]
    assert [job.time for job in checkpoints if job.day == date(2025, 11, 28)] == ["09:00", "12:00"]
    assert [job.time for job in checkpoints if job.day == date(2025, 12, 1)] == CHECKPOINTS
    assert len(checkpoints) == 4 + 2 + 4 + 4


def test_tuesday_holiday_moves_postmortem_back_to_monday(schedule: ScheduleConfig, calendar: TradingCalendar) -> None:
    # Christmas 2018-12-25 was a Tuesday; Monday 2018-12-24 was a session (early close).
    postmortem = of_kind(week_jobs(schedule, calendar, date(2018, 12, 19)), JobKind.POSTMORTEM)
    assert len(postmortem) == 1
    assert postmortem[0].at == ny(2018, 12, 24, 16, 30)
    assert postmortem[0].key == "postmortem:2018-12-19"


def test_wednesday_postmortem_on_the_run_day_comes_before_the_next_weekly_run(calendar: TradingCalendar) -> None:
    # A postmortem configured after the next weekly run is pulled forward to it, and ordered first.
    late = ScheduleConfig(postmortem=PostmortemRun(day=Weekday.WEDNESDAY, time="16:30"))
    jobs = jobs_between(late, calendar, ny(2026, 1, 14, 0), ny(2026, 1, 14, 10))
    assert keys(jobs) == ["postmortem:2026-01-07", "weekly:2026-01-14", "checkpoint:2026-01-14T09:00"]
    assert jobs[0].at == jobs[1].at == ny(2026, 1, 14, 8)


def test_a_wednesday_postmortem_moved_back_by_a_holiday_waits_for_the_weeks_last_close(
    calendar: TradingCalendar,
) -> None:
    # Christmas 2024-12-25 was a Wednesday: "wednesday 08:00" moved back to Tuesday 08:00, before that session, so
    # the week was closed while it still traded and a backtest stopped at its 09:00 checkpoint ("is the clock set
    # back?"). Now it waits for Tuesday's (early, 13:00) close; the checkpoints before it run, those after the close
    # never did.
    morning = ScheduleConfig(postmortem=PostmortemRun(day=Weekday.WEDNESDAY, time="08:00"))
    jobs = week_jobs(morning, calendar, date(2024, 12, 18))
    [postmortem] = of_kind(jobs, JobKind.POSTMORTEM)
    assert postmortem.at == ny(2024, 12, 24, 13) and postmortem.time == "13:00"
    assert max(job.at for job in of_kind(jobs, JobKind.CHECKPOINT)) < postmortem.at
    assert jobs[-1] is postmortem


@pytest.mark.parametrize(("day", "hhmm"), [("tuesday", "16:00"), ("tuesday", "16:30"), ("wednesday", "07:00")])
def test_no_postmortem_a_config_allows_comes_before_its_weeks_last_close(
    calendar: TradingCalendar, day: str, hhmm: str
) -> None:
    schedule = ScheduleConfig(postmortem=PostmortemRun(day=Weekday(day), time=hhmm))
    week = date(2018, 1, 3)
    while week < date(2026, 12, 30):
        sessions = calendar.sessions_between(week, week + timedelta(days=6))
        [postmortem] = of_kind(week_jobs(schedule, calendar, week), JobKind.POSTMORTEM)
        assert postmortem.at >= calendar.session_close(sessions[-1]), week
        week += timedelta(days=7)


# ---------------------------------------------------------------- what run-due runs


def test_due_before_the_weekly_run_is_nothing_when_last_week_is_done(
    schedule: ScheduleConfig, calendar: TradingCalendar
) -> None:
    now = ny(2026, 1, 7, 7, 59)
    assert due_jobs(schedule, calendar, now, done_before(schedule, calendar, now)) == []


def test_due_at_the_weekly_run_time_is_the_weekly_run(schedule: ScheduleConfig, calendar: TradingCalendar) -> None:
    now = ny(2026, 1, 7, 8)
    assert keys(due_jobs(schedule, calendar, now, done_before(schedule, calendar, now))) == ["weekly:2026-01-07"]


def test_due_after_the_weekly_run_is_done_is_nothing(schedule: ScheduleConfig, calendar: TradingCalendar) -> None:
    now = ny(2026, 1, 7, 8, 5)
    done = done_before(schedule, calendar, now)
    assert "weekly:2026-01-07" in done
    assert due_jobs(schedule, calendar, now, done) == []


def test_due_just_after_noon_is_the_noon_checkpoint(schedule: ScheduleConfig, calendar: TradingCalendar) -> None:
    done = done_before(schedule, calendar, ny(2026, 1, 7, 12))  # everything before the 12:00 checkpoint
    now = ny(2026, 1, 7, 12, 3)
    assert keys(due_jobs(schedule, calendar, now, done)) == ["checkpoint:2026-01-07T12:00"]


def test_due_with_missed_checkpoints_is_only_the_latest(schedule: ScheduleConfig, calendar: TradingCalendar) -> None:
    now = ny(2026, 1, 7, 14, 30)
    done = done_before(schedule, calendar, now) - {
        "checkpoint:2026-01-07T09:00",
        "checkpoint:2026-01-07T12:00",
        "checkpoint:2026-01-07T14:00",
    }
    assert keys(due_jobs(schedule, calendar, now, done)) == ["checkpoint:2026-01-07T14:00"]


def test_due_with_latest_checkpoint_done_ignores_earlier_missed_ones(
    schedule: ScheduleConfig, calendar: TradingCalendar
) -> None:
    now = ny(2026, 1, 7, 14, 30)
    done = done_before(schedule, calendar, now) - {"checkpoint:2026-01-07T12:00"}
    assert due_jobs(schedule, calendar, now, done) == []


def test_due_after_downtime_runs_weekly_run_first_then_only_todays_latest_checkpoint(
    schedule: ScheduleConfig, calendar: TradingCalendar
) -> None:
    # The machine was off from Wednesday 07:00 to Thursday 10:00.
    done = done_before(schedule, calendar, ny(2026, 1, 7, 7))
    now = ny(2026, 1, 8, 10)

    assert keys(due_jobs(schedule, calendar, now, done)) == ["weekly:2026-01-07"]

    done = done | {"weekly:2026-01-07"}
    assert keys(due_jobs(schedule, calendar, now, done)) == ["checkpoint:2026-01-08T09:00"]


def test_due_on_tuesday_evening_is_the_postmortem(schedule: ScheduleConfig, calendar: TradingCalendar) -> None:
    done = done_before(schedule, calendar, ny(2026, 1, 13, 16, 30))  # everything before the postmortem
    now = ny(2026, 1, 13, 16, 31)
    assert keys(due_jobs(schedule, calendar, now, done)) == ["postmortem:2026-01-07"]


def test_due_after_missing_postmortem_and_weekly_run_is_both_postmortem_first(
    schedule: ScheduleConfig, calendar: TradingCalendar
) -> None:
    # Off from Tuesday 16:00 to the next Wednesday 09:00: missed the postmortem, the weekly run and 09:00.
    done = done_before(schedule, calendar, ny(2026, 1, 13, 16))
    now = ny(2026, 1, 14, 9)
    assert keys(due_jobs(schedule, calendar, now, done)) == ["postmortem:2026-01-07", "weekly:2026-01-14"]


def test_due_weekly_run_is_dropped_once_the_next_weekly_run_has_come(
    schedule: ScheduleConfig, calendar: TradingCalendar
) -> None:
    # Off for a whole week: last week's run is superseded by this week's, but its postmortem is still due.
    done = done_before(schedule, calendar, ny(2026, 1, 7, 7))
    now = ny(2026, 1, 14, 8, 5)
    assert keys(due_jobs(schedule, calendar, now, done)) == ["postmortem:2026-01-07", "weekly:2026-01-14"]


def test_due_weekly_run_is_dropped_once_its_weeks_last_session_has_closed(
    schedule: ScheduleConfig, calendar: TradingCalendar
) -> None:
    # Off from Wednesday 07:00 until Tuesday: the run is still worth it while a session of its week is left to trade
    # in, not after the last one closed (its orders would queue for the open of the next week, after its weekly run).
    done = done_before(schedule, calendar, ny(2026, 1, 7, 7))
    assert "weekly:2026-01-07" in keys(due_jobs(schedule, calendar, ny(2026, 1, 13, 15, 55), done))
    assert "weekly:2026-01-07" not in keys(due_jobs(schedule, calendar, ny(2026, 1, 13, 16), done))
    assert "weekly:2026-01-07" not in keys(due_jobs(schedule, calendar, ny(2026, 1, 13, 23), done))
    # Thanksgiving's week ends on an ordinary Tuesday; the week of 2026-12-23 has its early close on Thursday and
    # its last session on Tuesday 12-29.
    done = done_before(schedule, calendar, ny(2026, 11, 25, 7))
    assert "weekly:2026-11-25" in keys(due_jobs(schedule, calendar, ny(2026, 11, 27, 13, 30), done))
    done = done_before(schedule, calendar, ny(2026, 12, 23, 7))
    assert "weekly:2026-12-23" in keys(due_jobs(schedule, calendar, ny(2026, 12, 29, 15, 59), done))
    assert "weekly:2026-12-23" not in keys(due_jobs(schedule, calendar, ny(2026, 12, 29, 16), done))


def test_due_postmortem_beyond_the_lookback_is_dropped(schedule: ScheduleConfig, calendar: TradingCalendar) -> None:
    now = ny(2026, 1, 14, 17)
    done = done_before(schedule, calendar, now) - {"postmortem:2026-01-07"}
    assert keys(due_jobs(schedule, calendar, now, done)) == ["postmortem:2026-01-07"]
    assert due_jobs(schedule, calendar, now, done, lookback=timedelta(hours=12)) == []


# ---------------------------------------------------------------- next fires and cron


def test_next_fires_skips_weekends_and_holidays(schedule: ScheduleConfig, calendar: TradingCalendar) -> None:
    # Friday 2025-11-28 after its 13:00 close: the weekend comes next, then Monday.
    fires = next_fires(schedule, calendar, ny(2025, 11, 28, 12, 0), count=6)
    assert keys(fires) == [
        "checkpoint:2025-12-01T09:00",
        "checkpoint:2025-12-01T12:00",
        "checkpoint:2025-12-01T14:00",
        "checkpoint:2025-12-01T15:50",
        "checkpoint:2025-12-02T09:00",
        "checkpoint:2025-12-02T12:00",
    ]

    # Tuesday 2024-12-31 evening: New Year's Day (Wednesday) is skipped, the weekly run is on Thursday.
    fires = next_fires(schedule, calendar, ny(2024, 12, 31, 16, 30), count=2)
    assert keys(fires) == ["weekly:2025-01-01", "checkpoint:2025-01-02T09:00"]
    assert all(job.at.weekday() < 5 for job in fires)
    assert fires[0].at == ny(2025, 1, 2, 8)


def test_next_fires_is_strictly_after_now(schedule: ScheduleConfig, calendar: TradingCalendar) -> None:
    fires = next_fires(schedule, calendar, ny(2026, 1, 7, 8), count=3)
    assert keys(fires) == ["checkpoint:2026-01-07T09:00", "checkpoint:2026-01-07T12:00", "checkpoint:2026-01-07T14:00"]
    assert next_fires(schedule, calendar, ny(2026, 1, 7, 8), count=0) == []


def test_crontab_lines_run_run_due_on_weekdays_in_new_york_time() -> None:
    lines = crontab_lines("/opt/llmtrade/bin/llmtrade")
    assert "CRON_TZ=America/New_York" in lines
    assert lines[0].startswith("#")
    assert lines[-1] == "*/5 * * * 1-5 /opt/llmtrade/bin/llmtrade --quiet run-due >> ~/llmtrade-cron.log 2>&1"


def test_crontab_lines_take_interval_and_log_path_and_escape_percent() -> None:
    line = crontab_lines("/opt/my tools/llmtrade", every_minutes=10, log="/var/log/llm%trade.log")[-1]
    assert line == r"*/10 * * * 1-5 '/opt/my tools/llmtrade' --quiet run-due >> /var/log/llm\%trade.log 2>&1"
    with pytest.raises(ValueError, match="every_minutes"):
        crontab_lines("llmtrade", every_minutes=0)


def test_crontab_lines_carry_the_env_folder_config_and_home_cron_would_not_have() -> None:
    lines = crontab_lines(
        "/opt/llmtrade/bin/llmtrade",
        workdir=Path("/home/me/my llmtrade"),
        config_dir=Path("/home/me/cfg%1"),
        home=Path("/srv/llmtrade"),
    )
    assert lines[-2:] == [
        "LLMTRADE_HOME=/srv/llmtrade",
        r"*/5 * * * 1-5 cd '/home/me/my llmtrade' && /opt/llmtrade/bin/llmtrade --config /home/me/cfg\%1 --quiet"
        " run-due"
        " >> ~/llmtrade-cron.log 2>&1",
    ]


def test_schedule_crontab_writes_in_the_env_folder_config_and_home_of_the_shell_that_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cron runs the line in the home folder with almost no environment: a `.env` beside the command (the keys), a
    config folder and LLMTRADE_HOME that the shell had were lost, and a live setup ran offline on other books
    (found trying the README's cron line; with --quiet it would not even say its mode)."""
    config = tmp_path / "config"
    assert runner.invoke(app, ["init", str(config)]).exit_code == 0
    (tmp_path / "work" / ".env").write_text("OPENROUTER_API_KEY=\n")
    home = Path(os.environ["LLMTRADE_HOME"])

    lines = runner.invoke(app, ["--config", str(config), "schedule", "crontab"]).stdout.splitlines()

    assert f"LLMTRADE_HOME={home.resolve()}" in lines
    assert lines[-1].startswith(f"*/5 * * * 1-5 cd {tmp_path / 'work'} && ")
    assert f" --config {config.resolve()} --quiet run-due >> " in lines[-1]

    (tmp_path / "work" / ".env").unlink()
    monkeypatch.delenv("LLMTRADE_HOME")
    plain = runner.invoke(app, ["schedule", "crontab"]).stdout.splitlines()
    assert not [line for line in plain if line.startswith("LLMTRADE_HOME=")]
    assert " cd " not in plain[-1] and "--config" not in plain[-1]


def test_schedule_crontab_names_the_settings_and_keys_this_shell_has_and_cron_would_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DATABASE_URL and the keys exported in the shell that asked were left out of the lines: cron's run-due started
    an embedded database of its own and ran a fresh offline committee there, saying nothing with --quiet (found by
    the months trial). They are named (never their values) in a comment above the line and on stderr, until the
    .env the line reads has them."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://me:hunter2secret@db.example/llmtrade")
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-verysecret")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")  # a drill's clock: cron must not have it

    result = runner.invoke(app, ["schedule", "crontab"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    note = lines[-2]
    assert note.startswith("# DATABASE_URL, OPENROUTER_API_KEY: set in this shell but not in ")
    assert lines[-1].startswith("*/5 * * * 1-5 ")
    assert "DATABASE_URL, OPENROUTER_API_KEY: set in this shell" in result.stderr
    assert "LLMTRADE_NOW" not in result.output
    assert "hunter2" not in result.output and "verysecret" not in result.output

    Path(".env").write_text("DATABASE_URL=postgresql://me:hunter2secret@db.example/llmtrade\nOPENROUTER_API_KEY=sk-x\n")
    kept = runner.invoke(app, ["schedule", "crontab"])
    assert kept.exit_code == 0 and "set in this shell" not in kept.output
    assert kept.stdout.splitlines()[-1].startswith(f"*/5 * * * 1-5 cd {Path.cwd()} && ")


def test_missed_checkpoints_are_those_no_wake_up_of_the_interval_reaches_before_the_next_one_or_the_close(
    schedule: ScheduleConfig, calendar: TradingCalendar
) -> None:
    start = date(2026, 11, 2)
    assert missed_checkpoints(schedule, calendar, 5, start) == []
    assert missed_checkpoints(schedule, calendar, 10, start) == []
    # */15 wakes at 15:45 and 16:00: the 15:50 checkpoint's window closes between them.
    assert missed_checkpoints(schedule, calendar, 15, start) == [("15:50", "16:00")]
    # 12:50 is before the early closes' 13:00 (2026-11-27, 2026-12-24) as well as 16:00; 09:01 runs only until 09:05.
    odd = schedule.model_copy(update={"checkpoints": ["09:01", "09:05", "12:50"]})
    assert missed_checkpoints(odd, calendar, 15, start) == [("09:01", "09:05"), ("12:50", "13:00")]


def test_schedule_crontab_refuses_an_interval_that_never_runs_a_checkpoint() -> None:
    """`schedule crontab --every 15` printed */15, whose wake-ups at 15:45 and 16:00 both miss the 15:50 checkpoint's
    window (it runs only until the close): it never ran, silently (found by the months trial). The interval is
    refused (exit 2) naming the checkpoint and one that works; --every 60, which the option allowed, raised a
    traceback."""
    refused = runner.invoke(app, ["schedule", "crontab", "--every", "15"])
    assert refused.exit_code == 2
    assert "none from 15:50 until 16:00, so the 15:50 checkpoint would never run; use --every 10" in refused.output
    assert runner.invoke(app, ["schedule", "crontab", "--every", "10"]).stdout.splitlines()[-1].startswith("*/10 ")
    hour = runner.invoke(app, ["schedule", "crontab", "--every", "60"])
    assert hour.exit_code == 2 and "Traceback" not in hour.output


def test_schedule_crontab_every_takes_the_common_unit_forms_or_says_what_to_write() -> None:
    """`schedule crontab --every 5m` was refused by the option's integer parsing ("'5m' is not a valid integer"),
    though 5m, 5min and 1h are how an interval is usually written. Minutes in those forms are taken (an hour wakes at
    minute 0 of each hour, refused as any interval is when it would miss a checkpoint); anything else is refused
    (exit 2) with the forms to write."""
    for written in ("5", "5m", "5min", "5 mins", "5minutes", "5M"):
        taken = runner.invoke(app, ["schedule", "crontab", "--every", written])
        assert taken.exit_code == 0, (written, taken.output)
        assert taken.stdout.splitlines()[-1].startswith("*/5 * * * 1-5 "), written
    assert crontab_lines("llmtrade", every_minutes=60)[-1].startswith("0 * * * 1-5 ")
    hour = runner.invoke(app, ["schedule", "crontab", "--every", "1h"])
    assert hour.exit_code == 2 and "Traceback" not in hour.output
    assert "--every 1h: cron would wake at minute 0 of each hour" in hour.output and "use --every 10" in hour.output
    for bad in ("5s", "2h", "0m", "soon", "90", "1.5m"):
        refused = runner.invoke(app, ["schedule", "crontab", "--every", bad])
        assert refused.exit_code == 2 and "Traceback" not in refused.output, bad
        assert f"--every {bad}:" in refused.output, (bad, refused.output)
        assert "write minutes from 1 to 59 (5, 5m or 5min) or 1h" in refused.output, bad


def test_schedule_crontab_refuses_in_one_line_with_no_database_opened(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Its refusals are said, not recorded (commands/schedule.py `schedule_crontab`): it prints lines for a person to
    paste, with no side effects, and recording a typo would start an embedded server, or wait on a database that is not
    there, before saying it. Held: a refusal with no database reachable and an empty home is one line, exit 2, and
    leaves the home without a database."""
    monkeypatch.setenv("LLMTRADE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", "postgresql://llmtrade@127.0.0.1:9/gone?connect_timeout=2")  # nothing on 9
    for every in ("15", "5s"):
        refused = runner.invoke(app, ["schedule", "crontab", "--every", every])
        assert refused.exit_code == 2, refused.output
        assert refused.stderr.startswith(f"error: --every {every}:") and refused.stderr.count("\n") == 1
        assert refused.stdout == ""
    assert not (tmp_path / "home" / "pgdata").exists() and not list((tmp_path / "home").glob("**/PG_VERSION"))
