"""A weekly run or postmortem that a wake-up runs more than a day after its time, with no wait said before, is said
under -q: an operator's trial turned the machine off for eleven days and the wake-up after ran a postmortem six days
late and a weekly run five days late, exit 0, not a word, and `status` showed nothing late either."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()


def test_jobs_run_days_late_are_said_once_and_on_time_ones_are_not(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_time = runner.invoke(app, ["-q", "run-due", "--offline"])  # Wednesday 08:00: the week's run, on time
    assert (on_time.exit_code, on_time.output) == (0, ""), on_time.output
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-16T10:00:00-05:00")  # off from Wednesday to the next Friday
    back = runner.invoke(app, ["-q", "run-due", "--offline", "--json"])
    assert back.exit_code == 0, back.output
    why = ": no wake-up ran it before (the machine off, or cron stopped?)"
    missed, *late = back.stderr.splitlines()
    assert late == [
        f"postmortem:2026-01-07 ran 2 days 18 hours late (due Tue 2026-01-13 16:30 New York){why}",
        # The week's as-of is its slot: what the run decided from, and what it did not see (as run-weekly says it).
        f"weekly:2026-01-14 ran 2 days 2 hours late (due Wed 2026-01-14 08:00 New York){why}; it decided from prices "
        "to the close of 2026-01-13, as it would have on time: the 2 sessions closed since are not in its inputs",
    ]
    # The same lateness, typed, in each late job's entry of --json (the checkpoints run after have none).
    late_of = {run["job"]: run["late"] for run in json.loads(back.stdout)}
    assert late_of["postmortem:2026-01-07"] == {"seconds": 235800.0, "due": "2026-01-13T16:30:00-05:00"}
    assert late_of["weekly:2026-01-14"] == {"seconds": 180000.0, "due": "2026-01-14T08:00:00-05:00"}
    assert all(late is None for job, late in late_of.items() if job.startswith("checkpoint:"))
    # The checkpoints the week lost, in one line (tests/test_missed_checkpoints.py).
    assert missed.startswith("checkpoint(s) never run, New York: 20, from Wed 2026-01-07 09:00 to Tue 2026-01-13 16:00")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-16T10:10:00-05:00")
    assert runner.invoke(app, ["-q", "run-due", "--offline"]).output == ""  # said once: the jobs are done


def test_a_late_postmortem_is_said_though_the_weekly_run_after_it_fails(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found in a cron trial: the lines were said only once every job had run, so a wake-up that stopped after the
    # late postmortem (the weekly run failing, exit 1, or a SIGTERM from `timeout` during it) never said it, and the
    # next wake-up found the postmortem done: its lateness went unsaid for good.
    from llmtrade.app import due_run
    from llmtrade.errors import OperationalError

    assert runner.invoke(app, ["-q", "run-due", "--offline"]).exit_code == 0  # Wednesday 08:00: the week's run
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-16T10:00:00-05:00")  # off from Wednesday to the next Friday

    def refused(*args: object, **kwargs: object) -> None:
        raise OperationalError("the broker refused the key")

    monkeypatch.setattr(due_run, "weekly", refused)
    back = runner.invoke(app, ["-q", "run-due", "--offline"])
    assert back.exit_code == 1, back.output
    why = ": no wake-up ran it before (the machine off, or cron stopped?)"
    assert f"postmortem:2026-01-07 ran 2 days 18 hours late (due Tue 2026-01-13 16:30 New York){why}" in back.stderr
    assert "the broker refused the key" in back.stderr
