"""A job's retry deadline on the machine's moving clock: a weekly run begun a little before its deadline (the first
checkpoint, 09:00) is past it when a role fails for a temporary reason minutes later. Past the deadline the failure is
final (pipeline/retry.py): the run goes on without the role, as one begun after the deadline does, rather than waiting
(exit 75) "until 09:00" at 09:01. A chosen clock (LLMTRADE_NOW) keeps its instant: tests/test_temporary_failures.py."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

import llmtrade.clock
from llmtrade.cli import app
from llmtrade.market.calendar import NEW_YORK
from tests.fakes.committee_answers import committee_answer
from tests.fakes.llm_faults import Fault
from tests.fakes.llm_transport import FakeLLM
from tests.fakes.openai_server import schema_name
from tests.fakes.running_clock import RunningClock
from tests.support import stored_events
from tests.test_temporary_failures import DOWN, GROK

runner = CliRunner()


def test_a_weekly_run_past_its_deadline_when_a_review_fails_goes_on_without_it(
    live: FakeLLM, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = RunningClock(datetime(2026, 1, 7, 8, 59, 30, tzinfo=NEW_YORK))
    monkeypatch.delenv("LLMTRADE_NOW")
    monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", "0")  # the database server's clock is today's
    monkeypatch.setattr(llmtrade.clock, "make_clock", lambda fixed: clock)
    pitched: list[str] = []

    def route(body: dict[str, Any]) -> Fault:
        if schema_name(body) == "PitchAnswer" and not pitched:
            pitched.append(body["model"])
            clock.advance(timedelta(minutes=2))  # the PMs take minutes to answer: it is past 09:00 from here
        if body["model"] == GROK and schema_name(body) == "ReviewAnswer":
            return DOWN(body)
        return Fault(200, committee_answer(body))

    live.behaviour = route
    result = runner.invoke(app, ["run-weekly", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert "grok" not in report["review_matrix"] and len(report["review_matrix"]) == 3
    assert [d for d in report["degraded"] if "still unavailable at the deadline" in d]
    assert stored_events(cli_env["DATABASE_URL"], type="StageDeferred") == []
