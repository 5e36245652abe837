"""A clock set back into a week already closed by its postmortem (LLMTRADE_NOW left from a drill, an NTP step back)
changes nothing: refused, exit 75. An operator's trial found a routine `run-due` at a past instant ran that week's
checkpoint, which halved positions the next week had bought and planned from (REDUCE 248 -> 123), exit 0, no word."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events

runner = CliRunner()


def test_a_clock_set_back_into_a_closed_week_runs_none_of_its_checkpoints(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for now in ("2026-01-07T08:00:00-05:00", "2026-01-14T08:00:00-05:00"):  # the week, then its postmortem
        monkeypatch.setenv("LLMTRADE_NOW", now)
        assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0
    assert stored_events(wednesday_week, type="PostmortemCompleted")
    before = len(stored_events(wednesday_week))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T10:00:00-05:00")  # Thursday of the closed week, in session
    # Refused before anything (app/clock_guard.py): the books hold the postmortem's records, made after the clock.
    for command in (["-q", "run-due"], ["checkpoint", "09:00"]):
        back = runner.invoke(app, command)
        assert back.exit_code == 75, back.output
        assert back.stderr.startswith(
            "error: the clock is behind the books: their latest record was made at 2026-01-14"
        ), back.stderr
        assert "LLMTRADE_NOW" in back.stderr
    assert len(stored_events(wednesday_week)) == before + 2  # a refusal per command; not a run, a price or an order
