"""What an operator's trial found of run-due's order and its words: a clock set back within an open week ran the
12:00 checkpoint after the 14:00 one (judging at older prices after newer decisions were on record); a checkpoint
started while the week's run still ran exited 1 telling the user to start that run; a run-due losing a race said
"nothing is due" between its "due:" line and the lock's error."""

from __future__ import annotations

from datetime import date

import pytest
from typer.testing import CliRunner

from llmtrade.app.results import RunDueResult
from llmtrade.cli import app
from llmtrade.commands.schedule import _said
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from llmtrade.workflows.weekly import week_lock
from tests.support import FIXED_NOW, stored_events

runner = CliRunner()


def _at(monkeypatch: pytest.MonkeyPatch, hhmm: str) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", f"2026-01-07T{hhmm}:00-05:00")


def test_a_clock_set_back_runs_no_checkpoint_older_than_one_done(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # 08:00: the week's run
    _at(monkeypatch, "14:05")
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # the 14:00 checkpoint
    _at(monkeypatch, "12:05")  # set back: refused before anything (app/clock_guard.py)
    back = runner.invoke(app, ["run-due"])
    assert back.exit_code == 75 and "the clock is behind the books" in back.stderr, back.output
    done = {e.payload["time"] for e in stored_events(wednesday_week, type="CheckpointCompleted")}
    assert done == {"14:00"}


def test_a_checkpoint_while_the_weeks_run_holds_the_week_waits_naming_it(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmtrade.clock import FixedClock

    _at(monkeypatch, "09:05")
    with open_storage(Settings(), FixedClock(FIXED_NOW)) as storage, week_lock(storage.conn, date(2026, 1, 7)):
        waited = runner.invoke(app, ["checkpoint", "09:00"])
    assert waited.exit_code == 75, waited.output
    assert "another run-weekly for week 2026-01-07 is running" in waited.stderr
    assert "has not completed" not in waited.stderr


def test_a_wake_up_left_waiting_does_not_also_say_nothing_is_due(capsys: pytest.CaptureFixture[str]) -> None:
    _said(RunDueResult([]), False, waiting=True)
    assert capsys.readouterr().out == ""
    _said(RunDueResult([]), False)
    assert capsys.readouterr().out == "nothing is due\n"
