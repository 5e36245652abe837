"""What cron missed while the machine was off is said once, under -q, recorded, and shown by `status` and the report.

A cron operator's trial turned the machine off from a Tuesday's 12:10 to the Wednesday after next: the wake-up back said
only that the last postmortem ran late. The week between (its weekly run, its checkpoints, its postmortem) was said
nowhere (no event, nothing in `status`, the report's list of weeks jumped over it), and the Tuesday afternoon's
checkpoints of the week before were said only when the clock was set back a day: the look went back one week, and
skipped a week with no weekly run."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events, wake_quietly

runner = CliRunner()


def test_a_week_the_machine_was_off_is_said_once_recorded_skipped_and_shown(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert wake_quietly(monkeypatch, "08:00").exit_code == 0  # week 2026-01-07's run
    assert wake_quietly(monkeypatch, "12:05", day="2026-01-13").exit_code == 0  # its Tuesday 12:00 checkpoint
    # Off from Tuesday 12:10 to the Wednesday after next, 08:30: the whole week of 2026-01-14 lost.
    back = wake_quietly(monkeypatch, "08:30", day="2026-01-21")
    assert back.exit_code == 0, back.output
    lines = back.stderr.splitlines()
    assert lines[0].startswith("checkpoint(s) never run, New York: Tue 2026-01-13 14:00-15:50, Tue 2026-01-13 15:50-")
    assert lines[1].startswith(
        "week 2026-01-14 never run (its weekly run due Wed 2026-01-14 08:00 New York, 16 checkpoint(s) and its "
        "postmortem): no wake-up ran its weekly run (the machine off, or cron stopped or broken?) before its last "
        "session closed; skipped, not run late"
    ), lines
    assert lines[2].startswith("postmortem:2026-01-07 ran 7 days 16 hours late"), lines
    assert len(lines) == 3, lines

    [lost] = stored_events(wednesday_week, week_id=date(2026, 1, 14))  # `events --week` shows it, and only it
    assert lost.type == "WeekNotRun"
    assert lost.payload["jobs"][0] == "weekly:2026-01-14" and lost.payload["jobs"][-1] == "postmortem:2026-01-14"
    assert sum(job.startswith("checkpoint:") for job in lost.payload["jobs"]) == 16
    [*_, missed] = stored_events(wednesday_week, type="CheckpointsMissed")
    assert missed.payload["checkpoints"] == ["checkpoint:2026-01-13T14:00", "checkpoint:2026-01-13T15:50"]

    # Said once: the next wake-up does not say it again, and one on a clock set back to the lost week's Tuesday is
    # refused (app/clock_guard.py) without a word of it.
    assert wake_quietly(monkeypatch, "08:35", day="2026-01-21").stderr == ""
    back = wake_quietly(monkeypatch, "16:40", day="2026-01-20")
    assert back.exit_code == 75 and "the clock is behind the books" in back.stderr, back.stderr
    assert "never run" not in back.stderr
    assert len(stored_events(wednesday_week, type="WeekNotRun")) == 1

    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-21T10:00:00-05:00")
    shown = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert shown["weeks_not_run"] == ["2026-01-14"]
    assert "weeks never run" in runner.invoke(app, ["status"]).stdout

    page = tmp_path / "report.html"
    assert runner.invoke(app, ["report", "--live", "-o", str(page)]).exit_code == 0
    html = page.read_text()
    assert "2026-01-14 (not run)" in html and f'id="event-{lost.id}"' in html
    assert "1 week never run, skipped whole" in html


def test_status_says_a_week_never_run_when_no_wake_up_came_to_say_it(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cron broken after the first week's run: nothing records the loss, and `status` still says it.
    assert wake_quietly(monkeypatch, "08:00").exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-20T15:00:00-05:00")  # the week of 2026-01-14 not over yet
    assert json.loads(runner.invoke(app, ["status", "--json"]).stdout)["weeks_not_run"] == []
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-21T10:00:00-05:00")
    assert json.loads(runner.invoke(app, ["status", "--json"]).stdout)["weeks_not_run"] == ["2026-01-14"]
    assert stored_events(wednesday_week, type="WeekNotRun") == []


def test_the_report_says_a_gap_in_its_weeks_that_nothing_recorded(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Weeks run by hand, none by run-due (or books from before WeekNotRun): the week between recorded nothing.
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-21T08:00:00-05:00")
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    page = tmp_path / "report.html"
    assert runner.invoke(app, ["report", "--live", "-o", str(page)]).exit_code == 0
    html = page.read_text()
    assert "2026-01-14 (no record)" in html
    assert "1 week between the recorded weeks with nothing recorded at all" in html
