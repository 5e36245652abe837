"""`llmtrade run-weekly` against PMs that reply the way real providers misbehave: a think block before
the JSON, a pitch cut at max_tokens, a provider that refuses json_schema, a daily quota."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from typer.testing import CliRunner

from llmtrade.cli import app
from tests.fakes import llm_faults as f
from tests.fakes.committee_answers import committee_answer
from tests.fakes.llm_faults import Fault
from tests.fakes.llm_transport import FakeLLM
from tests.support import stored_events

runner = CliRunner()
GROK = "x-ai/grok-4"


def _good(body: dict[str, Any]) -> str:
    return committee_answer(body)["choices"][0]["message"]["content"]


def _is_pitch(body: dict[str, Any]) -> bool:
    fmt = (body.get("response_format") or {}).get("json_schema") or {}
    return fmt.get("name") == "PitchAnswer" or any("PitchAnswer" in m["content"] for m in body["messages"][-1:])


def _grok_pitch(make: Callable[[dict[str, Any]], Fault]) -> Callable[[dict[str, Any]], Fault]:
    def route(body: dict[str, Any]) -> Fault:
        if body["model"] == GROK and _is_pitch(body):
            return make(body)
        return Fault(200, committee_answer(body))

    return route


def test_a_think_block_before_a_valid_pitch_is_a_valid_pitch(live: FakeLLM, cli_env: dict[str, str]) -> None:
    live.behaviour = _grok_pitch(lambda b: f.think_then("Weighing TLT against GLD.", _good(b))(b))
    result = runner.invoke(app, ["run-weekly", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["failed_pms"] == [] and len(report["pitches"]) == 4
    thinks = [e.payload["think"] for e in stored_events(cli_env["DATABASE_URL"], type="LLMCallCompleted")]
    assert "Weighing TLT against GLD." in thinks


def test_a_truncated_pitch_is_repaired_with_a_larger_max_tokens(live: FakeLLM, cli_env: dict[str, str]) -> None:
    seen: list[int] = []

    def cut_once(body: dict[str, Any]) -> Fault:
        seen.append(body["max_tokens"])
        if len(seen) == 1:
            good = _good(body)
            reply = committee_answer(body)
            reply["choices"][0]["message"]["content"] = good[: len(good) // 2]
            reply["choices"][0]["finish_reason"] = "length"
            return Fault(200, reply)
        return Fault(200, committee_answer(body))

    live.behaviour = _grok_pitch(cut_once)
    result = runner.invoke(app, ["run-weekly", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["failed_pms"] == []
    assert seen[1] == 2 * seen[0]
    [failed] = stored_events(cli_env["DATABASE_URL"], type="LLMCallFailed")
    assert failed.payload["error_type"] == "LLMTruncated" and failed.payload["max_tokens"] == seen[0]
    notes = [e.payload["note"] for e in stored_events(cli_env["DATABASE_URL"], type="LLMCallCompleted")]
    assert any(n and f"max_tokens {seen[0]} -> {seen[1]}" in n for n in notes)


def test_a_pitch_truncated_twice_fails_that_pm_with_the_word_truncation(live: FakeLLM, cli_env: dict[str, str]) -> None:
    live.behaviour = _grok_pitch(f.truncated())
    result = runner.invoke(app, ["run-weekly", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["failed_pms"] == ["grok"]
    [failed] = stored_events(cli_env["DATABASE_URL"], type="PitchFailed")
    assert "cut off at max_tokens" in failed.payload["error"]


def test_a_provider_refusing_json_schema_runs_the_week_in_json_object_mode(
    live: FakeLLM, cli_env: dict[str, str]
) -> None:
    def refuse_schema(body: dict[str, Any]) -> Fault:
        if (body.get("response_format") or {}).get("type") == "json_schema":
            raw = json.dumps({"error": {"message": "'minItems' is not permitted in response_format schema"}})
            return f.error_body(400, 400, "Provider returned error", "Azure", raw)(body)
        return Fault(200, committee_answer(body))

    live.behaviour = refuse_schema
    result = runner.invoke(app, ["run-weekly", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["degraded"] == [] or all("PM" not in d for d in report["degraded"])
    modes = {e.payload["response_mode"] for e in stored_events(cli_env["DATABASE_URL"], type="LLMCallCompleted")}
    assert "json_object" in modes and "json_schema" not in modes
    refused = stored_events(cli_env["DATABASE_URL"], type="LLMCallFailed")
    # Each model is refused once per run (calls already in flight may each see it), then remembered.
    assert refused and all(e.payload["error_type"] == "StructuredOutputRefused" for e in refused)
    assert len(refused) < 12


def test_a_daily_quota_fails_the_run_at_once_with_exit_75(live: FakeLLM) -> None:
    live.behaviour = f.rate_limited("86400", "Rate limit exceeded: free-models-per-day")
    result = runner.invoke(app, ["run-weekly"])
    assert result.exit_code == 75, result.output
    assert "quota that resets later" in result.stderr and "Traceback" not in result.output
    assert len(live.requests) == 2  # one request per research provider, no retries, nothing after
