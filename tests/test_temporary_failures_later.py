"""Only final failures are frozen, for the checkpoints and the postmortem too: an owner whose provider is
down is asked again by a rerun until the job's deadline (the next checkpoint of the day, the next weekly
run), and only that owner; past the deadline the job goes on without it and the events say so."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.fakes import llm_faults as f
from tests.fakes.llm_faults import Fault
from tests.support import stored_events
from tests.test_checkpoint_stages import _asked, week

__all__ = ["week"]  # the fixture: the week's committee has run, it is Wednesday 12:00

runner = CliRunner()
GROK = "x-ai/grok-4"  # owns acct_4, asked at the 12:00 checkpoint
DOWN = f.rate_limited("86400", "Rate limit exceeded: free-models-per-day")
SLOT = "week:2026-01-07:checkpoint:2026-01-07T12:00"


def _down_for(fake: Any, model: str, schema: str) -> Callable[[dict[str, Any]], Fault]:
    def route(body: dict[str, Any]) -> Fault:
        name = (body.get("response_format") or {}).get("json_schema", {}).get("name")
        return DOWN(body) if body["model"] == model and name == schema else Fault(200, fake.answer(body))

    return route


def test_a_checkpoint_owner_lost_to_an_outage_is_asked_again_alone(week: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = week
    fake.behaviour = _down_for(fake, GROK, "CheckpointDecision")
    before = len(fake.requests)
    first = runner.invoke(app, ["checkpoint", "12:00"])
    assert first.exit_code == 75, first.output
    assert "waiting for the owner(s) of acct_4" in first.output
    asked = _asked(fake, before, "CheckpointDecision")
    assert GROK in asked
    assert stored_events(url, stream=f"{SLOT}:acct_4") == []  # not frozen as skipped
    assert stored_events(url, stream=f"{SLOT}:acct_2")  # the owners who answered are stored
    assert stored_events(url, type="CheckpointCompleted") == []

    fake.behaviour = None
    again = len(fake.requests)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:10:00-05:00")
    second = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert second.exit_code == 0, second.output
    assert _asked(fake, again, "CheckpointDecision") == [GROK]  # nobody who answered is paid for twice
    [taken] = stored_events(url, stream=f"{SLOT}:acct_4", type="CheckpointTaken")
    assert taken.payload["checkpoint"]["decided_by"] == "owner"
    assert len(stored_events(url, type="CheckpointCompleted")) == 1


def test_a_checkpoint_owner_still_down_at_the_deadline_is_skipped_and_named(
    week: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = week
    fake.behaviour = _down_for(fake, GROK, "CheckpointDecision")
    assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code == 75
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T14:01:00-05:00")  # the 14:00 checkpoint is the deadline
    late = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert late.exit_code == 0, late.output
    [skipped] = stored_events(url, stream=f"{SLOT}:acct_4", type="CheckpointSkipped")
    assert "still unavailable at the deadline" in skipped.payload["reason"]
    [missing] = stored_events(url, type="InputsMissing")
    assert missing.payload["stage"] == "ask" and missing.payload["missing"] == ["acct_4"]
    assert len(stored_events(url, type="CheckpointCompleted")) == 1


def test_a_postmortem_reflection_lost_to_an_outage_is_asked_again_alone(
    week: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = week
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:31:00-05:00")
    fake.behaviour = _down_for(fake, GROK, "PostmortemAnswer")
    first = runner.invoke(app, ["postmortem", "--week", "2026-01-07"])
    assert first.exit_code == 75, first.output
    assert stored_events(url, type="PostmortemReflected") == [] and stored_events(url, type="PostmortemWritten") == []
    fake.behaviour = None
    before = len(fake.requests)
    second = runner.invoke(app, ["postmortem", "--week", "2026-01-07", "--json"])
    assert second.exit_code == 0, second.output
    assert _asked(fake, before, "PostmortemAnswer") == [GROK]
    report = json.loads(second.stdout)
    assert all(a["reflection"] for a in report["accounts"] if a["account_id"] != "acct_6")


def test_a_postmortem_reflection_still_down_at_the_next_weekly_run_is_written_without_it(
    week: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = week
    fake.behaviour = _down_for(fake, GROK, "PostmortemAnswer")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T07:30:00-05:00")
    assert runner.invoke(app, ["postmortem", "--week", "2026-01-07"]).exit_code == 75
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")  # the next weekly run is the deadline
    late = runner.invoke(app, ["postmortem", "--week", "2026-01-07", "--json"])
    assert late.exit_code == 0, late.output
    report = json.loads(late.stdout)
    [grok] = [a for a in report["accounts"] if a["account_id"] == "acct_4"]
    assert grok["reflection"] is None
    [missing] = stored_events(url, type="InputsMissing")
    assert missing.payload["stage"] == "reflect" and missing.payload["missing"] == ["acct_4"]
    # The week's lessons lack it for good: the run that wrote it is degraded, and says so (under -q too).
    [failed] = report["failed_reflections"]
    assert failed.startswith("acct_4's reflection failed: ") and failed.endswith("(still unavailable at the deadline)")
    assert "postmortem 2026-01-07: acct_4's reflection failed" in late.stderr
    ends = stored_events(url, type="RunFinished")
    assert ends[-1].payload["degraded"] is True


def test_a_postmortem_reflection_failed_for_good_degrades_the_run_and_is_said(
    week: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: every reflection failed (its override's error), yet the run exited 0, its RunFinished said not degraded
    and nothing was printed, under -q or not; the week's lessons were lost without a word."""
    fake, url = week
    final = f.error_body(400, 400, f"{GROK} is not a valid model ID")

    def route(body: dict[str, Any]) -> Fault:
        name = (body.get("response_format") or {}).get("json_schema", {}).get("name")
        return final(body) if body["model"] == GROK and name == "PostmortemAnswer" else Fault(200, fake.answer(body))

    fake.behaviour = route
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:31:00-05:00")
    done = runner.invoke(app, ["-q", "postmortem", "--week", "2026-01-07"])
    assert done.exit_code == 0, done.output
    [line] = done.stderr.splitlines()
    assert line.startswith("postmortem 2026-01-07: acct_4's reflection failed: "), line
    assert "is not a valid model ID" in line
    [end] = [e for e in stored_events(url, type="RunFinished") if e.run_id == done_run(url)]
    assert end.payload["degraded"] is True
    again = runner.invoke(
        app, ["-q", "postmortem", "--week", "2026-01-07"]
    )  # loaded: said once, by the run that wrote it
    assert again.exit_code == 0 and again.stderr == "", again.output


def done_run(url: str) -> str:
    [written] = {e.run_id for e in stored_events(url, type="PostmortemWritten")}
    return written
