"""A weekly run that a late postmortem of last week comes before reads and stamps after it, on the machine's clock.

Last week's postmortem closes it before this week opens (DESIGN: postmortem(W-1) -> snapshot -> research -> recall).
Run late (the machine was off on Tuesday evening), the postmortem and the weekly run go in one wake-up, the reflections
taking minutes. `run-weekly` read its `now` before the postmortem it runs first and used it after: its run id (sortable
by time) said it began before the postmortem it waited for, and both runs read the week "as of" the weekly run's
scheduled 08:00, before the postmortem's lessons existed, so recall (known strictly before the as-of) never showed the
week its own last lessons. run-due's weekly run read a fresh `now`, but the same scheduled as-of. A chosen clock
(LLMTRADE_NOW, a backtest's step) keeps both as before: an on-time postmortem is before the weekly run's as-of."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

import llmtrade.clock
from llmtrade.cli import app
from llmtrade.domain.runs import _stamp
from llmtrade.market.calendar import NEW_YORK
from llmtrade.workflows import postmortem_memory
from tests.fakes.running_clock import RunningClock
from tests.support import stored_events

runner = CliRunner()
REFLECTIONS_TAKE = timedelta(minutes=10)
LATE = datetime(2026, 1, 14, 9, 10, tzinfo=NEW_YORK)  # the postmortem was due Tuesday 16:30, the weekly run 08:00


def _late_wake_up(url: str, monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # last week's run, at LLMTRADE_NOW
    monkeypatch.delenv("LLMTRADE_NOW")
    monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", "0")  # the database server's clock is today's
    clock = RunningClock(LATE)
    monkeypatch.setattr(llmtrade.clock, "make_clock", lambda fixed: clock)
    remember = postmortem_memory.RememberOutcomesStage.run

    async def slowly(self: postmortem_memory.RememberOutcomesStage, context: Any) -> Any:
        clock.advance(REFLECTIONS_TAKE)  # the accounts' reflections, asked of the models before this stage
        return await remember(self, context)

    monkeypatch.setattr(postmortem_memory.RememberOutcomesStage, "run", slowly)
    ran = runner.invoke(app, command)
    assert ran.exit_code == 0, ran.output


def _check(url: str) -> None:
    lessons = stored_events(url, type="LessonRemembered")
    assert lessons, "the postmortem wrote its lessons"
    known = max(datetime.fromisoformat(e.payload["lesson"]["known_at"]) for e in lessons)
    [done] = stored_events(url, type="PostmortemCompleted")
    weekly = [e for e in stored_events(url, type="RunStarted") if e.payload["command"] == "run-weekly"][-1]
    assert weekly.run_id is not None and weekly.run_id[:16] >= _stamp(done.occurred_at), (weekly.run_id, done)
    [snapshot] = [e for e in stored_events(url, type="MarketSnapshotTaken") if e.run_id == weekly.run_id]
    asof = datetime.fromisoformat(snapshot.payload["snapshot"]["asof"])
    assert asof > known, (asof, known)  # the week is read after its last lessons were known: recall may show them


def test_run_weekly_by_hand_runs_the_late_postmortem_then_reads_and_stamps_after_it(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _late_wake_up(wednesday_week, monkeypatch, ["run-weekly", "--offline"])
    _check(wednesday_week)


def test_run_due_runs_the_late_postmortem_then_a_weekly_run_that_reads_after_it(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _late_wake_up(wednesday_week, monkeypatch, ["run-due", "--offline"])
    _check(wednesday_week)
