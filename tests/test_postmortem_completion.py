"""A postmortem cut off after it was recorded and before the week's outcomes and lessons reached the memory is run
again by the next wake-up: its completion marker comes last. An operator's trial killed runs there (12 of 12): run-due
said "nothing is due" ever after, and the memory held the week's setups without their outcomes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.domain.checkpoints import PostmortemCompleted
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import postmortem_stream
from llmtrade.workflows import postmortem_memory
from tests.support import stored_events

runner = CliRunner()


def test_a_postmortem_stopped_before_the_memory_has_its_outcomes_is_run_again(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # the week's run, which remembers its setups
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:35:00-05:00")  # the week's postmortem is due

    async def killed(self: object, context: object) -> object:
        raise KeyboardInterrupt  # the process stopped here: the postmortem recorded, the memory not yet written

    with monkeypatch.context() as kill:
        kill.setattr(postmortem_memory.RememberOutcomesStage, "run", killed)
        assert runner.invoke(app, ["-q", "run-due"]).exit_code == 130
    assert stored_events(wednesday_week, type="PostmortemWritten")
    assert stored_events(wednesday_week, type="PostmortemCompleted") == []

    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:40:00-05:00")
    again = runner.invoke(app, ["run-due"])
    assert again.exit_code == 0 and "ran postmortem:2026-01-07" in again.stdout, again.output
    assert stored_events(wednesday_week, type="OutcomeRemembered")
    assert len(stored_events(wednesday_week, type="PostmortemCompleted")) == 1
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:45:00-05:00")
    assert "nothing is due" in runner.invoke(app, ["run-due"]).stdout


def test_a_weekly_run_by_hand_runs_first_a_postmortem_cut_off_before_the_memory(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The review of the change above: `run-weekly` by hand took any record of last week's postmortem for done, so the
    new week ran and the cut-off postmortem's outcomes, written later, came after its as-of time."""
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:35:00-05:00")

    async def killed(self: object, context: object) -> object:
        raise KeyboardInterrupt

    with monkeypatch.context() as kill:
        kill.setattr(postmortem_memory.RememberOutcomesStage, "run", killed)
        assert runner.invoke(app, ["-q", "postmortem", "--week", "2026-01-07"]).exit_code == 130
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    weekly = runner.invoke(app, ["run-weekly"])
    assert weekly.exit_code == 0, weekly.output
    assert "postmortem of week 2026-01-07 first" in weekly.stderr
    [completed] = stored_events(wednesday_week, type="PostmortemCompleted")
    assert stored_events(wednesday_week, type="OutcomeRemembered")
    started = [e for e in stored_events(wednesday_week, type="RunStarted") if e.payload["command"] == "run-weekly"]
    assert completed.id < started[-1].id  # closed before the new week began


def test_a_postmortem_an_earlier_build_cut_off_before_the_memory_is_run_again_once(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Builds before the marker came last (84904eb, 72a5597, 972aba5) wrote PostmortemCompleted with the postmortems,
    then the memory. An upgrade trial killed 84904eb's postmortem between them; after the upgrade run-due said "nothing
    is due" for good and the week's 5 setups never had their outcomes (nor its 5 lessons)."""
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:35:00-05:00")

    _cut_off_as_an_earlier_build_was(wednesday_week, monkeypatch)

    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:40:00-05:00")
    again = runner.invoke(app, ["run-due"])
    assert again.exit_code == 0 and "ran postmortem:2026-01-07" in again.stdout, again.output
    assert stored_events(wednesday_week, type="OutcomeRemembered")
    assert stored_events(wednesday_week, type="LessonRemembered")
    assert len(stored_events(wednesday_week, type="PostmortemCompleted")) == 1
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:45:00-05:00")
    assert "nothing is due" in runner.invoke(app, ["run-due"]).stdout


def _cut_off_as_an_earlier_build_was(wednesday_week: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The week's postmortem killed as an earlier build's was: its marker written beside the postmortems, before the
    memory (the postmortem of the week run by `wednesday_week`, due at LLMTRADE_NOW)."""

    async def old_build_killed(self: postmortem_memory.RememberOutcomesStage, context: object) -> object:
        bench = self.bench  # the marker as the old record stage wrote it, beside the postmortems; then the kill
        marker = PostmortemCompleted(week_id=bench.week_id, run_id=bench.run_id)
        stream = postmortem_stream(bench.week_id)
        bench.events.append([NewEvent.of(marker, stream=stream, week_id=bench.week_id, run_id=bench.run_id)])
        raise KeyboardInterrupt

    with monkeypatch.context() as kill:
        kill.setattr(postmortem_memory.RememberOutcomesStage, "run", old_build_killed)
        assert runner.invoke(app, ["-q", "run-due"]).exit_code == 130
    assert stored_events(wednesday_week, type="PostmortemCompleted")
    assert stored_events(wednesday_week, type="OutcomeRemembered") == []


def test_a_weekly_run_by_hand_first_repairs_a_postmortem_an_earlier_build_cut_off_before_the_memory(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upgrade trial's note: run-due repaired such a week, `run-weekly` by hand took its marker for done and opened
    the next week with last week's setups still without their outcomes."""
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:35:00-05:00")
    _cut_off_as_an_earlier_build_was(wednesday_week, monkeypatch)

    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    weekly = runner.invoke(app, ["run-weekly"])
    assert weekly.exit_code == 0, weekly.output
    assert "postmortem of week 2026-01-07 first" in weekly.stderr
    outcomes = stored_events(wednesday_week, type="OutcomeRemembered")
    assert outcomes and stored_events(wednesday_week, type="LessonRemembered")
    started = [e for e in stored_events(wednesday_week, type="RunStarted") if e.payload["command"] == "run-weekly"]
    assert max(e.id for e in outcomes) < started[-1].id  # remembered before the new week began
    assert len(stored_events(wednesday_week, type="PostmortemCompleted")) == 1


def test_a_postmortem_that_remembered_no_outcome_is_not_run_again(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repair above is asked once: a week whose finished postmortem had no outcome to remember stays done."""
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:35:00-05:00")

    async def nothing(self: object, context: object) -> object:
        return context  # as when no setup's account had a postmortem

    with monkeypatch.context() as none:
        none.setattr(postmortem_memory.RememberOutcomesStage, "run", nothing)
        assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0
    assert stored_events(wednesday_week, type="OutcomeRemembered") == []
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:45:00-05:00")
    assert "nothing is due" in runner.invoke(app, ["run-due"]).stdout
