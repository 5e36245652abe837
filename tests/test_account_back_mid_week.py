"""An account put back in accounts.yaml after its week's weekly run ran without it: each checkpoint of the week skips
it saying so, not asking whether the weekly run ran.

A reader's trial took acct_4 and its PM out of the config on a Thursday, holding a short, and put them back four weeks
later on a Monday: every checkpoint of that week, five a day, recorded "no trade frozen for this week (was run-weekly
run?)" for it, in the report's checkpoint table and `ask`'s answers, though the weekly run had run on time; what the
short was left to (nothing judges it until the next weekly run) was said nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events
from tests.test_orphaned_positions import _without_acct_4

runner = CliRunner()


def test_a_checkpoint_skips_an_account_the_weekly_run_did_not_have_saying_why(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = _without_acct_4(tmp_path / "config")
    assert runner.invoke(app, ["--config", str(config), "-q", "run-due"]).exit_code == 0  # the week's run, no acct_4
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:01:00-05:00")
    woke = runner.invoke(app, ["-q", "run-due"])  # acct_4 back (the packaged config): the 12:00 checkpoint
    assert woke.exit_code == 0, woke.output
    [skipped] = [
        e.payload["reason"] for e in stored_events(wednesday_week, type="CheckpointSkipped") if e.account_id == "acct_4"
    ]
    assert "was run-weekly run" not in skipped
    assert skipped.startswith("no trade of its own this week: it was not in accounts.yaml when the week's weekly run")
    assert "the next weekly run trades it" in skipped
    # An account the run had, whose week froze a trade, is judged as before.
    judged = {e.account_id for e in stored_events(wednesday_week, type="CheckpointTaken")}
    assert "acct_1" in judged
