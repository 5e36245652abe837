"""`breaker reset` of an account that is not halted: a new user's trial reset a running breaker, which recorded a
resume with no halt before it; every `leaderboard` and `report` after failed with an IndexError traceback."""

from __future__ import annotations

from datetime import UTC, datetime

from typer.testing import CliRunner

from llmtrade.app.report_controls import halt_notes
from llmtrade.app.report_records import ControlLine
from llmtrade.cli import app
from tests.support import stored_events

runner = CliRunner()


def test_a_reset_of_a_running_breaker_is_refused_and_records_nothing(wednesday_week: str) -> None:
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    before = len(stored_events(wednesday_week, type="BreakerUpdated"))
    reset = runner.invoke(app, ["breaker", "reset", "acct_1"])
    assert reset.exit_code == 2, reset.output
    assert reset.stderr.strip() == (
        "error: acct_1 is not halted: nothing to reset (`llmtrade status` shows each breaker)"
    )
    assert stored_events(wednesday_week, type="AccountResumed") == []
    assert len(stored_events(wednesday_week, type="BreakerUpdated")) == before
    assert runner.invoke(app, ["leaderboard"]).exit_code == 0


def test_halt_notes_pass_over_a_resume_with_no_halt_before_it() -> None:
    """Books written before the refusal hold such a resume: they are read, the account's later halt told."""
    resumed = ControlLine(event_id=1, at="2026-01-07T10:00-05:00", kind="resumed", account_id="acct_1", detail="x")
    halted = ControlLine(event_id=2, at="2026-01-08T10:00-05:00", kind="halted", account_id="acct_2", detail="dd")
    notes = halt_notes([resumed, halted], datetime(2026, 1, 9, tzinfo=UTC))
    assert len(notes) == 1 and notes[0].startswith("acct_2 was halted by the circuit breaker 1 time")
