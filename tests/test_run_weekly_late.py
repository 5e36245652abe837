"""`run-weekly` run as a command days after the week's scheduled run says so in one line, under -q too, as `run-due`
says of a weekly run it makes late (tests/test_run_due_late.py): a new user's trial ran it two days late by hand and
was told nothing. What the line says of its inputs is what the week's fixed as-of gives: the prices an on-time run
would have read, not the sessions closed since."""

from __future__ import annotations

import json

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()


def test_a_weekly_run_made_days_late_says_so_and_what_its_inputs_are(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-16T10:00:00-05:00")  # Friday: the week's run was due Wednesday 08:00
    dry = runner.invoke(app, ["-q", "run-weekly", "--offline", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "late" not in dry.stderr  # a look, not the week's run
    late = runner.invoke(app, ["-q", "run-weekly", "--offline"])
    assert late.exit_code == 0, late.output
    assert late.stderr.splitlines() == [
        "weekly:2026-01-14 ran 2 days 2 hours late (due Wed 2026-01-14 08:00 New York): it decided from prices to the "
        "close of 2026-01-13, as it would have on time: the 2 sessions closed since are not in its inputs"
    ]
    # As the run recorded it: its snapshot is as of the week's scheduled run, Tuesday's close the newest in it.
    with psycopg.connect(cli_env["DATABASE_URL"]) as conn:
        [(asof, session)] = conn.execute(
            "SELECT payload->'snapshot'->>'asof', payload->'snapshot'->>'session' FROM events"
            " WHERE type = 'MarketSnapshotTaken'"
        ).fetchall()
    assert (asof, session) == ("2026-01-14T08:00:00-05:00", "2026-01-13")
    again = runner.invoke(app, ["-q", "run-weekly", "--offline"])
    assert (again.exit_code, again.stderr) == (0, "")  # the week already complete: nothing ran, nothing ran late


def test_a_weekly_run_within_a_day_of_its_time_says_nothing_of_it(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T20:00:00-05:00")  # 12 hours on: within the day run-due allows
    result = runner.invoke(app, ["-q", "run-weekly", "--offline"])
    assert (result.exit_code, result.stderr) == (0, ""), result.output


def test_a_weekly_run_under_two_days_late_says_days_and_hours_and_its_json_says_how_late(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new user's trial read "ran 42.5 hours late", a day's count left to work out, and --json said nothing of it."""
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-16T02:30:00-05:00")  # 42.5 hours after Wednesday 08:00
    late = runner.invoke(app, ["-q", "run-weekly", "--offline", "--json"])
    assert late.exit_code == 0, late.output
    [line] = late.stderr.splitlines()
    assert line.startswith("weekly:2026-01-14 ran 1 day 19 hours late (due Wed 2026-01-14 08:00 New York): "), line
    assert json.loads(late.stdout)["late"] == {"seconds": 42.5 * 3600, "due": "2026-01-14T08:00:00-05:00"}
    again = runner.invoke(app, ["-q", "run-weekly", "--offline", "--json"])  # the week complete: nothing ran late
    assert (again.exit_code, again.stderr) == (0, "") and "late" not in json.loads(again.stdout)


def test_a_weekly_run_on_time_has_no_lateness_in_its_json(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:05:00-05:00")
    result = runner.invoke(app, ["run-weekly", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["late"] is None
