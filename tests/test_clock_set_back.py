"""A clock set back into a week already closed by its postmortem (LLMTRADE_NOW left from a drill, an NTP step back)
changes nothing. An operator's trial found a routine `run-due` at a past instant ran that week's checkpoint, which
halved positions the next week had bought and planned from (REDUCE 248 -> 123), exit 0 and not a word."""

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
    back = runner.invoke(app, ["-q", "run-due"])
    assert back.exit_code == 0 and back.output == "", back.output
    by_hand = runner.invoke(app, ["checkpoint", "09:00"])
    assert by_hand.exit_code == 2, by_hand.output
    assert by_hand.stderr.startswith("error: week 2026-01-07 is closed (its postmortem ran at 2026-01-14"), (
        by_hand.stderr
    )
    assert "is it set back (LLMTRADE_NOW)?" in by_hand.stderr
    assert len(stored_events(wednesday_week)) == before  # not a run, a price or an order recorded
