"""A bare `llmtrade postmortem` in a first week says why it picked the week it names and when one is due.

A new user's trial, the Sunday after the quick start's first weekly run (week 2026-12-02): `llmtrade postmortem`
exited 2 with "week 2026-11-25 has no completed weekly run: nothing to review; weeks run: 2026-12-02". They had named
no week: the line said neither why 2026-11-25 (the latest week whose postmortem is due) nor when the week they ran
could be scored (its postmortem, Tuesday 16:30). It still exits 2, as README says of a week never run; the line now
says both."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()


def test_a_bare_postmortem_before_the_first_is_due_says_which_week_and_when(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-10T11:00:00-05:00")  # the Saturday after: week 2026-01-07 not over
    bare = runner.invoke(app, ["postmortem", "--offline"])
    assert bare.exit_code == 2, bare.output
    said = bare.stderr
    assert "week 2025-12-31 has no completed weekly run: nothing to review; weeks run: 2026-01-07" in said
    assert "without --week, postmortem scores the latest week whose postmortem is due" in said, said
    assert "week 2026-01-07's is due Tue 2026-01-13 16:30 New York (schedule.yaml postmortem)" in said, said
    assert len(said.strip().splitlines()) == 1, said

    # A --week named by the user is its own answer: the default's words are not added to it.
    named = runner.invoke(app, ["postmortem", "--week", "2025-12-31", "--offline"])
    assert named.exit_code == 2 and "without --week" not in named.stderr, named.stderr


def test_a_bare_postmortem_with_no_week_run_says_when_this_weeks_is_due(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T11:00:00-05:00")  # Thursday of week 2026-01-07, nothing run
    bare = runner.invoke(app, ["postmortem", "--offline"])
    assert bare.exit_code == 2, bare.output
    said = bare.stderr
    assert "week 2025-12-31 has no completed weekly run: nothing to review; no week has one yet" in said, said
    assert "week 2026-01-07's is due Tue 2026-01-13 16:30 New York (schedule.yaml postmortem)" in said, said
    assert "no weekly run of it has completed yet" in said, said
