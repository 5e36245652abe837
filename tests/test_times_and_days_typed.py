"""Times of day and dates as a person types them (config/times.py): `9:00` is 09:00 on the command line and in
schedule.yaml, and a time or a day that does not exist (25:00, 2024-02-30) is refused saying which part is wrong."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import load_config, write_defaults
from llmtrade.config.times import calendar_day, clock_time

runner = CliRunner()


@pytest.mark.parametrize(
    ("typed", "read"), [("9:00", "09:00"), ("09:00", "09:00"), (" 15:50 ", "15:50"), ("0:05", "00:05")]
)
def test_an_hour_of_one_digit_is_the_hour_it_says(typed: str, read: str) -> None:
    assert clock_time(typed) == read


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("25:00", "the hour is 0 to 23"),
        ("24:00", "the hour is 0 to 23"),
        ("12:60", "the minutes are 00 to 59"),
        ("9:5", "is not a 24-hour time H:MM or HH:MM"),
        ("noon", "is not a 24-hour time H:MM or HH:MM"),
        ("9:00am", "is not a 24-hour time H:MM or HH:MM"),
    ],
)
def test_a_time_that_is_none_says_what_is_wrong(typed: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        clock_time(typed)


def test_a_day_of_one_digit_months_reads_and_a_day_that_does_not_exist_is_named() -> None:
    assert str(calendar_day("2024-1-5")) == "2024-01-05"
    assert str(calendar_day("20240105")) == "2024-01-05"
    with pytest.raises(ValueError, match="February 2024 has days 1 to 29"):
        calendar_day("2024-02-30")
    with pytest.raises(ValueError, match="the month is 1 to 12"):
        calendar_day("2024-13-01")
    with pytest.raises(ValueError, match="is not a date"):
        calendar_day("next tuesday")


def test_schedule_yaml_reads_9_00_quoted_or_not_as_09_00(tmp_path: Path) -> None:
    # Unquoted, YAML 1.1 reads 9:00 as 540 (base 60); llmtrade's loader reads YAML 1.2's way: text.
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / "schedule.yaml"
    text = path.read_text().replace('time: "08:00"', "time: 8:00").replace('time: "16:30"', "time: 16:30")
    path.write_text(text.replace('["09:00", "12:00"', '["9:00", 12:00'))
    schedule = load_config(folder).config.schedule
    assert (schedule.weekly_run.time, schedule.postmortem.time) == ("08:00", "16:30")
    assert schedule.checkpoints == ["09:00", "12:00", "14:00", "15:50"]


def test_a_checkpoint_time_listed_twice_in_two_spellings_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / "schedule.yaml"
    path.write_text(path.read_text().replace('"14:00"', '"9:00"'))
    refused = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    assert refused.exit_code == 2, refused.output
    assert "a checkpoint time is listed twice: 09:00" in refused.output


def test_checkpoint_9_00_is_the_09_00_checkpoint(wednesday_week: str) -> None:
    """A new user's trial: `llmtrade checkpoint 9:00` was refused as "not a configured checkpoint time" where
    `09:00` ran; both now stop at the same place (here: no weekly run yet)."""
    padded = runner.invoke(app, ["checkpoint", "09:00", "--dry-run"])
    short = runner.invoke(app, ["checkpoint", "9:00", "--dry-run"])
    assert "not a configured checkpoint time" not in short.output
    assert (short.exit_code, short.output) == (padded.exit_code, padded.output)


@pytest.mark.parametrize(("typed", "said"), [("25:00", "the hour is 0 to 23"), ("12:60", "the minutes are 00 to 59")])
def test_checkpoint_of_a_time_that_is_none_is_exit_2_naming_it(cli_env: dict[str, str], typed: str, said: str) -> None:
    refused = runner.invoke(app, ["checkpoint", typed, "--dry-run"])
    assert refused.exit_code == 2, refused.output
    assert f"checkpoint TIME '{typed}' is not a time of day: {said}" in refused.output
    assert "Traceback" not in refused.output


def test_a_week_that_does_not_exist_says_which_part(cli_env: dict[str, str]) -> None:
    refused = runner.invoke(app, ["events", "--week", "2024-02-30"])
    assert refused.exit_code == 2
    assert "--week '2024-02-30' is not a date: February 2024 has days 1 to 29" in refused.output


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("2024-02-30", "must be a date, YYYY-MM-DD: February 2024 has days 1 to 29 (got '2024-02-30')"),
        ("2024-13-45", "must be a date, YYYY-MM-DD: the month is 1 to 12 (got '2024-13-45')"),
        ("2024-9-30", "must be a date, YYYY-MM-DD: write 2024-09-30 (got '2024-9-30')"),
        # A vendor's cutoff is often a month ("September 2024"): models.yaml takes a month to its last day.
        ("2024-09", "must be a date, YYYY-MM-DD: a month, not a day: write its last day, 2024-09-30 (got '2024-09')"),
        ("2024-2", "must be a date, YYYY-MM-DD: a month, not a day: write its last day, 2024-02-29 (got '2024-2')"),
    ],
)
def test_a_config_date_that_is_none_says_which_part(tmp_path: Path, written: str, said: str) -> None:
    """A new user's trial: `knowledge_cutoff: 2024-02-30` was told "must be a date, YYYY-MM-DD", the form it had."""
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / "models.yaml"
    path.write_text(path.read_text().replace("knowledge_cutoff: 2024-09-30", f"knowledge_cutoff: {written}", 1))
    refused = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    assert refused.exit_code == 2, refused.output
    assert f"pms[0].knowledge_cutoff: {said}" in refused.output


@pytest.mark.parametrize(
    "command",
    [["research", "--week", "1990-01-01"], ["run-weekly", "--dry-run", "--week", "2000-06-07"]],
    ids=" ".join,
)
def test_a_week_before_the_calendar_can_price_it_is_a_bad_week(cli_env: dict[str, str], command: list[str]) -> None:
    """A new user's trial: exit 1, "stage 'market_snapshot' failed: 1999-03-04 is outside the NYSE calendar's range",
    a day never given, as a market-data failure; a backtest's --from was refused so already, exit 2."""
    refused = runner.invoke(app, command)
    assert refused.exit_code == 2, refused.output
    assert f"--week {command[-1]}: the NYSE calendar covers 2000-01-01 to" in refused.stderr
    assert "give --week 2001-05-09 or later" in refused.stderr and "Traceback" not in refused.output


def test_a_typed_job_refused_for_its_input_is_on_record(cli_env: dict[str, str]) -> None:
    """A trial's `checkpoint 25:00` and `run-weekly --week 2026-13-01` were said on the terminal only: nothing in the
    books said they had been asked for, as `positions settle`'s refusals are (CommandRefused). A dry run records
    none."""
    from tests.support import stored_events

    assert runner.invoke(app, ["checkpoint", "25:00"]).exit_code == 2
    assert runner.invoke(app, ["run-weekly", "--week", "2026-13-01"]).exit_code == 2
    assert runner.invoke(app, ["checkpoint", "25:00", "--dry-run"]).exit_code == 2
    refused = [(e.payload["command"], e.payload["arguments"]) for e in stored_events(cli_env["DATABASE_URL"])]
    assert refused == [("checkpoint", {"time": "25:00"}), ("run-weekly", {"week": "2026-13-01"})]
    said = stored_events(cli_env["DATABASE_URL"], type="CommandRefused")[0].payload["error"]
    assert said.startswith("checkpoint TIME '25:00' is not a time of day")


@pytest.mark.parametrize(
    "command",
    [
        ["events", "--week", "0001-01-01"],
        ["run-weekly", "--dry-run", "--week", "0001-01-02"],
        ["postmortem", "--week", "0001-01-01"],
        ["backtest", "--from", "0001-01-01", "--to", "2024-01-10", "--offline"],
        ["backtest", "--from", "2024-01-03", "--to", "0001-01-02", "--offline"],
    ],
    ids=" ".join,
)
def test_a_day_whose_week_would_begin_before_year_1_is_a_bad_date(cli_env: dict[str, str], command: list[str]) -> None:
    """A new user's trial: `backtest --from 0001-01-01` (a Monday) was a traceback, exit 1 (OverflowError: its week's
    Wednesday is no date Python holds), where 0001-01-03 on was refused naming the calendar's range."""
    refused = runner.invoke(app, command)
    option, typed = next((o, v) for o, v in pairwise(command) if v.startswith("0001"))
    assert refused.exit_code == 2, refused.output
    assert f"{option} '{typed}' is not a day of a week llmtrade can hold" in refused.stderr
    assert "Traceback" not in refused.output
