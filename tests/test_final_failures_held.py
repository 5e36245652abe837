"""A stage stopped by a temporary failure keeps the final failures of the same fan-out (trial L, defect 3).

The roles that failed for good (here gpt's pitch, truncated at max_tokens and again on its repair: paid for twice)
while another waited for its provider were neither stored nor named: the exit-75 message spoke only of the one
waited for, and every rerun asked (and paid for) the final failures again. Now they are held (FailureHeld), named in
the message and in StageDeferred, and the rerun asks only the role that is missing. The provider is the respx fake
(tests/fakes/llm_transport.py); every request it gets is counted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.fakes import llm_faults as f
from tests.fakes.committee_answers import committee_answer
from tests.fakes.llm_faults import Fault
from tests.fakes.llm_transport import FakeLLM
from tests.support import WEDNESDAY_8AM, stored_events

runner = CliRunner()
WEEK = "2026-01-07"
BEFORE_DEADLINE = "2026-01-07T08:20:00-05:00"
GPT = "openai/gpt-5.1"
GROK = "x-ai/grok-4"


def _schema(body: dict[str, Any]) -> str:
    return str(((body.get("response_format") or {}).get("json_schema") or {}).get("name", ""))


def _route(grok_down: bool) -> Any:
    def route(body: dict[str, Any]) -> Fault:
        if _schema(body) == "PitchAnswer" and body["model"] == GPT:
            return f.truncated(0.3)(body)
        if grok_down and _schema(body) == "PitchAnswer" and body["model"] == GROK:
            return f.rate_limited("86400")(body)
        return Fault(200, committee_answer(body))

    return route


def _pitches_asked(fake: FakeLLM, since: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for body in fake.requests[since:]:
        if _schema(body) == "PitchAnswer":
            counts[body["model"]] = counts.get(body["model"], 0) + 1
    return counts


def test_a_final_failure_beside_a_temporary_one_is_kept_named_and_not_asked_again(
    live: FakeLLM, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = cli_env["DATABASE_URL"]
    live.behaviour = _route(grok_down=True)
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    first = runner.invoke(app, ["run-weekly"])
    assert first.exit_code == 75, first.output
    assert _pitches_asked(live, 0)[GPT] == 2  # the answer and its repair, both cut off: paid for
    said = " ".join(first.output.split())
    assert "pitches: waiting for grok" in said
    assert "failed for good" in said and "gpt" in said and "LLMTruncated" in said
    [deferred] = stored_events(url, type="StageDeferred")
    assert deferred.payload["waiting"] == ["grok"]
    assert [e.split(":")[0] for e in deferred.payload["failed"]] == ["gpt"]
    assert "LLMTruncated" in deferred.payload["failed"][0]
    held = stored_events(url, stream=f"week:{WEEK}:pitches:held", type="FailureHeld")
    assert [e.payload["key"] for e in held] == ["gpt"]

    live.behaviour = _route(grok_down=False)
    before = len(live.requests)
    monkeypatch.setenv("LLMTRADE_NOW", BEFORE_DEADLINE)
    second = runner.invoke(app, ["run-weekly", "--json"])
    assert second.exit_code == 0, second.output
    assert _pitches_asked(live, before) == {GROK: 1}  # gpt's final failure is not asked (nor paid for) again
    report = json.loads(second.stdout)
    assert report["failed_pms"] == ["gpt"]
    [failed] = stored_events(url, stream=f"week:{WEEK}:pitches", type="PitchFailed")
    assert failed.payload["pm_id"] == "gpt" and failed.payload["error_type"] == "LLMTruncated"
