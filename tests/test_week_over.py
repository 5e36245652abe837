"""`run-weekly` by hand once its week's last session has closed (a Tuesday evening, a week whose sessions are over).

A cron trial: the machine off from Wednesday to Tuesday evening, the operator ran `run-weekly` to catch up. It ran the
week's committee and queued its orders for Wednesday's open, in the next week: after its postmortem had closed the week
with none of them, to fill beside the next week's run and be closed by its roll. run-due gives such a week up and says
it (WeekNotRun); run-weekly now refuses it the same way (exit 2), before anything is recorded."""

from __future__ import annotations

import json

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()
TUESDAY_EVENING = "2026-01-20T17:00:00-05:00"  # week 2026-01-14's last session (Monday was MLK Day) closed at 16:00


def _types(url: str, week: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT type FROM events WHERE week_id = %s ORDER BY id", (week,))]


def test_run_weekly_after_its_weeks_last_close_is_refused_and_run_due_says_the_week_lost(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0  # week 2026-01-07, on time
    monkeypatch.setenv("LLMTRADE_NOW", TUESDAY_EVENING)
    late = runner.invoke(app, ["run-weekly", "--offline"])
    assert late.exit_code == 2, late.output
    assert late.stderr.splitlines()[-1] == (
        "error: week 2026-01-14 can no longer trade: its last session closed at Tue 2026-01-20 16:00 New York, so its "
        "orders could only fill in the next week, after that week's own run. It is not run late (run-due leaves it "
        "undone and records it as WeekNotRun); the next weekly run is due Wed 2026-01-21 08:00 New York. Use --dry-run "
        "to look at it without trading"
    )
    assert _types(wednesday_week, "2026-01-14") == []  # no run, no plan, no order of the week
    looked = runner.invoke(app, ["run-weekly", "--offline", "--dry-run", "--json"])
    assert looked.exit_code == 0, looked.output  # a look stays possible
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-20T17:05:00-05:00")
    due = runner.invoke(app, ["-q", "run-due", "--offline", "--json"])
    assert due.exit_code == 0, due.output
    assert [run["job"] for run in json.loads(due.stdout)] == ["postmortem:2026-01-07"]
    assert _types(wednesday_week, "2026-01-14") == ["WeekNotRun"]


@pytest.mark.parametrize("at", ["2026-01-20T16:00:00-05:00", "2026-01-20T23:59:00-05:00"])
def test_a_new_books_first_run_on_a_tuesday_evening_is_let_through(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, at: str
) -> None:
    """The quick start runs any day: its first week begins the books, with no week of them to lose."""
    monkeypatch.setenv("LLMTRADE_NOW", at)
    first = runner.invoke(app, ["-q", "run-weekly", "--offline", "--json"])
    assert first.exit_code == 0, first.output
    assert "WeekCompleted" in _types(cli_env["DATABASE_URL"], "2026-01-14")


def test_run_weekly_before_its_weeks_last_close_still_runs(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-20T15:59:00-05:00")  # a minute before the week's last close
    late = runner.invoke(app, ["-q", "run-weekly", "--offline"])
    assert late.exit_code == 0, late.output
    assert "WeekCompleted" in _types(wednesday_week, "2026-01-14")
