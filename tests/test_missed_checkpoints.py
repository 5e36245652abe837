"""A scheduled checkpoint no wake-up ran in its time is said once, under -q, recorded, and counted by `status`: an
operator's trial found a morning's downtime losing the 09:00 and 12:00 checkpoints, and a crontab waking every 30
minutes never running the 15:50 one (nothing between 15:50 and the close), both without a word anywhere."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner, Result

from llmtrade.cli import app
from llmtrade.market.calendar import NEW_YORK
from tests.crash_points import database
from tests.support import stored_events, wake_quietly

runner = CliRunner()
WHY = "no run began in its time"


# Thursday evening's books and home, kept by the first test to reach them: (a database to copy, a folder to copy).
_THURSDAY: dict[str, tuple[str, Path]] = {}


def _on_time_to_thursday_evening(url: str, admin_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Wednesday's weekly run and every checkpoint of Wednesday and Thursday, each run in its time and saying nothing
    under -q, in the test's database (`url`) and home.

    Two tests begin so (nine wake-ups): the first runs them and keeps a copy of its database and home; the other's
    database is dropped and made again, under its own name, as a copy of that one, and the home copied into its own."""
    home = Path(os.environ["LLMTRADE_HOME"])
    name = url.partition("?")[0].rsplit("/", 1)[1]
    if (kept := _THURSDAY.get("evening")) is not None:
        template, folder = kept
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}"')  # just made from the migrated template, never opened yet
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        shutil.copytree(folder, home, dirs_exist_ok=True)
        return
    for at in ("08:00", "09:05", "12:05", "14:05", "15:55"):
        assert _code_and_said(wake_quietly(monkeypatch, at)) == (0, ""), at
    for at in ("09:05", "12:05", "14:05", "15:55"):
        assert _code_and_said(wake_quietly(monkeypatch, at, "2026-01-08")) == (0, ""), at
    template = database(admin_url, template=name)  # asked again while a closed connection's backend still exits
    folder = Path(tempfile.mkdtemp(prefix="llmtrade-thursday-"))
    shutil.copytree(home, folder, dirs_exist_ok=True)
    _THURSDAY["evening"] = (template, folder)


@pytest.fixture(scope="module", autouse=True)
def _thursday_dropped(pg_admin_url: str) -> Iterator[None]:
    """The kept copies of `_on_time_to_thursday_evening` dropped at the module's end."""
    yield
    if (kept := _THURSDAY.pop("evening", None)) is not None:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{kept[0]}" WITH (FORCE)')
        shutil.rmtree(kept[1], ignore_errors=True)


def test_checkpoints_whose_time_passed_without_a_run_are_said_once_and_counted(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _code_and_said(wake_quietly(monkeypatch, "08:00")) == (0, "")  # the week's run
    # Off from 08:00: the 14:00 checkpoint runs, 09:00 and 12:00 never did.
    code, said = _code_and_said(wake_quietly(monkeypatch, "14:05"))
    assert code == 0, said
    [line] = said.splitlines()
    assert "never run" in line and "Wed 2026-01-07 09:00-12:00, Wed 2026-01-07 12:00-14:00" in line, line
    assert WHY in line and "14:00-" not in line
    assert _code_and_said(wake_quietly(monkeypatch, "14:10")) == (0, "")  # said once

    code, said = _code_and_said(wake_quietly(monkeypatch, "16:00"))  # a 30-minute cron: 15:30, then 16:00, the close
    assert code == 0 and "Wed 2026-01-07 15:50-16:00" in said and "09:00" not in said, said
    [first, second] = stored_events(wednesday_week, type="CheckpointsMissed")
    assert first.payload["checkpoints"] == ["checkpoint:2026-01-07T09:00", "checkpoint:2026-01-07T12:00"]
    assert second.payload["checkpoints"] == ["checkpoint:2026-01-07T15:50"]

    shown = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert shown["checkpoints_missed"] == [*first.payload["checkpoints"], *second.payload["checkpoints"]]
    assert "checkpoint:2026-01-07T15:50" in runner.invoke(app, ["status"]).stdout


def test_checkpoints_before_a_late_weekly_run_and_those_begun_are_not_missed(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The weekly run itself at 13:00 (the machine on since then): nothing before it could have been checked.
    assert _code_and_said(wake_quietly(monkeypatch, "13:00"))[0] == 0
    assert _code_and_said(wake_quietly(monkeypatch, "14:00")) == (0, "")  # its 14:00 checkpoint, run on time
    assert stored_events(wednesday_week, type="CheckpointsMissed") == []


def test_a_schedule_changed_mid_week_misses_only_checkpoints_it_named_in_their_time(
    wednesday_week: str, pg_admin_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A trial moved the checkpoints to 10:30 and 15:50 on a Thursday night: the next wake-up said every 10:30 of the
    # week "never run" and recorded them missed, though no schedule had named them then.
    _on_time_to_thursday_evening(wednesday_week, pg_admin_url, monkeypatch)
    config = tmp_path / "config"
    assert runner.invoke(app, ["init", str(config)]).exit_code == 0
    schedule = config / "schedule.yaml"
    old = 'checkpoints: ["09:00", "12:00", "14:00", "15:50"]'
    assert old in schedule.read_text()
    schedule.write_text(schedule.read_text().replace(old, 'checkpoints: ["10:30", "15:50"]'))
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(config))
    assert _code_and_said(wake_quietly(monkeypatch, "08:05", "2026-01-09")) == (0, "")
    assert stored_events(wednesday_week, type="CheckpointsMissed") == []
    # Under the new schedule its own times still count: Friday's 10:30 passed with no wake-up.
    code, said = _code_and_said(wake_quietly(monkeypatch, "15:55", "2026-01-09"))
    assert code == 0 and "never run" in said and "Fri 2026-01-09 10:30-15:50" in said, said
    assert "Wed" not in said and "Thu" not in said, said
    [missed] = stored_events(wednesday_week, type="CheckpointsMissed")
    assert missed.payload["checkpoints"] == ["checkpoint:2026-01-09T10:30"]


def test_a_checkpoint_time_added_on_a_thursday_evening_is_missed_on_friday_though_no_wake_up_came_between(
    wednesday_week: str, pg_admin_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """10:30 added to schedule.yaml on Thursday at 20:00, the machine then off until Friday noon. Before, the times
    counted as in force only from the first wake-up that found them (Friday 12:05), so that wake-up said "Fri
    2026-01-09 09:00-12:00" missed under the old times, and Friday's 10:30, named by the file since the evening
    before, never, where it was said when any wake-up came between (a cron of every few minutes all evening). Now they
    count from when schedule.yaml was written, when that is earlier. The week's earlier 10:30s, before the edit, are
    still not missed."""
    _on_time_to_thursday_evening(wednesday_week, pg_admin_url, monkeypatch)
    config = tmp_path / "config"
    assert runner.invoke(app, ["init", str(config)]).exit_code == 0
    schedule = config / "schedule.yaml"
    old = 'checkpoints: ["09:00", "12:00", "14:00", "15:50"]'
    schedule.write_text(schedule.read_text().replace(old, 'checkpoints: ["09:00", "10:30", "12:00", "14:00", "15:50"]'))
    edited = datetime(2026, 1, 8, 20, 0, tzinfo=NEW_YORK).timestamp()
    os.utime(schedule, (edited, edited))
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(config))
    code, said = _code_and_said(wake_quietly(monkeypatch, "12:05", "2026-01-09"))  # the first wake-up since
    assert code == 0 and "never run" in said, said
    assert "Fri 2026-01-09 09:00-10:30, Fri 2026-01-09 10:30-12:00" in said, said
    assert "Wed" not in said and "Thu" not in said, said
    [missed] = stored_events(wednesday_week, type="CheckpointsMissed")
    assert missed.payload["checkpoints"] == ["checkpoint:2026-01-09T09:00", "checkpoint:2026-01-09T10:30"]
    [_, seen] = stored_events(wednesday_week, type="CheckpointTimesSeen")
    assert datetime.fromisoformat(seen.payload["since"]).timestamp() == edited


def _code_and_said(woke: Result) -> tuple[int, str]:
    return woke.exit_code, woke.stderr


def _risk_broken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, str]:
    """A config folder of the test's own in use, its risk.yaml given a typo every job refuses (exit 2): the file and
    its good text, to mend it with."""
    config = tmp_path / "config"
    assert runner.invoke(app, ["init", str(config)]).exit_code == 0
    risk = config / "risk.yaml"
    good = risk.read_text()
    assert "max_open_positions: 10" in good
    risk.write_text(good.replace("max_open_positions: 10", "max_open_positons: 10"))
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(config))
    return risk, good


def test_a_checkpoint_whose_wake_ups_were_refused_for_the_configuration_says_so(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A trial: a typo in risk.yaml refused the 09:00 and 09:05 wake-ups (exit 2), then, mended, the 12:30 one said the
    # 09:00 checkpoint missed because "no run began in its time (the machine off, cron stopped ...)".
    assert _code_and_said(wake_quietly(monkeypatch, "08:00")) == (0, "")  # the week's run
    risk, good = _risk_broken(monkeypatch, tmp_path)
    assert wake_quietly(monkeypatch, "09:00").exit_code == 2
    assert wake_quietly(monkeypatch, "09:05").exit_code == 2
    [rejected] = stored_events(wednesday_week, type="ConfigRejected")
    risk.write_text(good)
    code, said = _code_and_said(wake_quietly(monkeypatch, "12:30"))
    assert code == 0, said
    assert "Wed 2026-01-07 09:00-12:00: wake-ups in its time were refused for the configuration" in said, said
    assert f"the first at 09:00: ConfigRejected, event {rejected.id}: run-due: " in said and "max_open_positons" in said
    assert WHY not in said, said
    [missed] = stored_events(wednesday_week, type="CheckpointsMissed")
    assert missed.payload["reason"].startswith("wake-ups in its time were refused for the configuration")


def test_a_checkpoint_whose_wake_ups_were_refused_for_the_clock_says_so(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for at in ("08:00", "09:05"):
        assert _code_and_said(wake_quietly(monkeypatch, at)) == (0, ""), at
    # LLMTRADE_NOW left from a drill, set back behind the books: every wake-up is refused until it is put right.
    assert wake_quietly(monkeypatch, "08:30").exit_code == 75
    [refused] = stored_events(wednesday_week, type="ClockBehindRefused")
    code, said = _code_and_said(wake_quietly(monkeypatch, "14:05"))  # put right after the 12:00 checkpoint's time
    assert code == 0, said
    assert "Wed 2026-01-07 12:00-14:00: wake-ups were refused for the clock (after " in said, said
    assert f"ClockBehindRefused, event {refused.id}: the clock read 2026-01-07T08:30-05:00, behind" in said, said
    assert WHY not in said, said


def test_refusals_over_before_a_checkpoints_time_are_not_its_reason(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _code_and_said(wake_quietly(monkeypatch, "08:00")) == (0, "")
    _risk_broken(monkeypatch, tmp_path)
    assert wake_quietly(monkeypatch, "08:10").exit_code == 2
    monkeypatch.delenv("LLMTRADE_CONFIG_DIR")
    assert _code_and_said(wake_quietly(monkeypatch, "09:05")) == (0, "")  # mended: the 09:00 checkpoint runs
    code, said = _code_and_said(wake_quietly(monkeypatch, "14:05"))  # then the machine off through 12:00's time
    assert code == 0 and "Wed 2026-01-07 12:00-14:00" in said and WHY in said, said
    assert "refused" not in said, said


def test_a_refusal_mended_by_a_wake_up_that_ran_nothing_is_over_from_that_wake_up(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A cron trial: the configuration mended at 08:20, whose wake-up had nothing due and recorded nothing, then the
    # machine off through the 09:00 and 12:00 checkpoints; both were said refused for the configuration.
    assert _code_and_said(wake_quietly(monkeypatch, "08:00")) == (0, "")
    risk, good = _risk_broken(monkeypatch, tmp_path)
    assert wake_quietly(monkeypatch, "08:10").exit_code == 2
    risk.write_text(good)
    assert _code_and_said(wake_quietly(monkeypatch, "08:20")) == (0, "")  # nothing due: runs nothing
    assert _code_and_said(wake_quietly(monkeypatch, "08:25")) == (0, "")
    [rejected] = stored_events(wednesday_week, type="ConfigRejected")
    [ended] = stored_events(wednesday_week, type="RefusalsEnded")  # once, by the first wake-up accepted
    assert ended.payload == {"command": "run-due", "refusal_id": rejected.id}
    assert ended.occurred_at == datetime(2026, 1, 7, 8, 20, tzinfo=NEW_YORK)
    code, said = _code_and_said(wake_quietly(monkeypatch, "14:05"))
    assert code == 0 and "Wed 2026-01-07 09:00-12:00" in said and WHY in said, said
    assert "refused" not in said, said
    status = runner.invoke(app, ["status"])
    [line] = [x for x in status.stdout.splitlines() if "max_open_positons" in x]
    assert "once while it lasts; over by 2026-01-07T08:20-05:00)" in line, status.stdout  # its end, not lasting

    # Broken again the same way: a refusal of its own, recorded again (before, the first was taken as still lasting).
    risk.write_text(good.replace("max_open_positions: 10", "max_open_positons: 10"))
    assert wake_quietly(monkeypatch, "14:10").exit_code == 2
    assert wake_quietly(monkeypatch, "14:15").exit_code == 2
    assert [
        e.occurred_at.astimezone(NEW_YORK).strftime("%H:%M")
        for e in stored_events(wednesday_week, type="ConfigRejected")
    ] == ["08:10", "14:10"]
