"""A postmortem run more than a day after its week's scheduled slot, by hand or by `run-weekly` first for the week
before, says so in one line, under -q too, as run-weekly run late says of itself (tests/test_run_weekly_late.py): both
said nothing. What the line says of its prices is what the postmortem reads late (workflows/postmortem_stages.py
GatherStage): the closes to its slot's time, not the sessions closed since."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()
LATE = (
    "postmortem:2026-01-07 ran 2 days 18 hours late (due Tue 2026-01-13 16:30 New York): it closed the week at the "
    "closes of 2026-01-13, as it would have on time: the 2 sessions closed since are not in it"
)


def test_a_postmortem_run_by_hand_days_late_says_so_once(wednesday_week: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0  # the week of 2026-01-07, on time
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-16T10:00:00-05:00")  # Friday: its postmortem was due Tuesday 16:30
    late = runner.invoke(app, ["-q", "postmortem", "--offline", "--json"])
    assert late.exit_code == 0, late.output
    assert late.stderr.splitlines() == [LATE]
    said = json.loads(late.stdout)["late"]  # the same lateness, typed: Tue 16:30 to Fri 10:00
    assert (said["seconds"], said["due"]) == ((2 * 24 + 17.5) * 3600, "2026-01-13T16:30:00-05:00")
    again = runner.invoke(app, ["-q", "postmortem", "--offline", "--json"])
    assert (again.exit_code, again.stderr) == (0, "")  # the week already closed: nothing closed late now
    assert json.loads(again.stdout)["late"] is None


def test_the_postmortem_run_weekly_runs_first_days_late_says_so(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-16T10:00:00-05:00")
    dry = runner.invoke(app, ["-q", "run-weekly", "--offline", "--dry-run"])
    assert dry.exit_code == 0 and "postmortem" not in dry.stderr, dry.output  # a dry run closes no week
    late = runner.invoke(app, ["-q", "run-weekly", "--offline"])
    assert late.exit_code == 0, late.output
    postmortem, weekly = late.stderr.splitlines()
    assert postmortem == LATE
    assert weekly.startswith("weekly:2026-01-14 ran 2 days 2 hours late")


def test_a_postmortem_within_a_day_of_its_slot_says_nothing_of_it(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T07:00:00-05:00")  # 14.5 hours on
    result = runner.invoke(app, ["-q", "postmortem", "--offline"])
    assert (result.exit_code, result.stderr) == (0, ""), result.output
