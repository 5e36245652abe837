"""`llmtrade council` against members and a chairman that reply the way real providers misbehave:
an empty, truncated or errored reply is a failed member (recorded, shown, run degraded), never an
answer; a chairman's bad verdict fails the run clearly; never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.fakes import llm_faults as f
from tests.fakes.llm_faults import Fault
from tests.fakes.llm_transport import FakeLLM
from tests.support import FIXED_NOW, going_live

runner = CliRunner()
QUERY = "Is a 60/40 portfolio still sensible?"
GROK = "x-ai/grok-4"
MEMBERS = [pm.model for pm in load_config(None).config.models.pms]


@pytest.fixture
def live(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    monkeypatch.setenv("LLMTRADE_LLM_API_KEY", "sk-local")
    with going_live(monkeypatch, None, market=None) as fake:
        yield fake


def _is_chairman(body: dict[str, Any]) -> bool:
    return "response_format" not in body and any("Answer 1" in m["content"] for m in body["messages"])


def _is_member_answer(body: dict[str, Any]) -> bool:
    return "response_format" not in body and not _is_chairman(body)


def _when(test: Callable[[dict[str, Any]], bool], step: f.Step) -> Callable[[dict[str, Any]], Fault]:
    """`step` for requests that pass `test`; a good answer, distinct per model, for the rest."""

    def route(body: dict[str, Any]) -> Fault:
        if test(body):
            return step(body)
        if "response_format" in body:
            return f.answer()(body)
        return f.answer(f"Opinion of a member {sum(map(ord, body['model']))}: it depends on rates.")(body)

    return route


def _grok_answers(step: f.Step) -> Callable[[dict[str, Any]], Fault]:
    return _when(lambda b: b["model"] == GROK and _is_member_answer(b), step)


def _failed_calls(url: str, run_id: str) -> list[Any]:
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        return storage.events.read(type="LLMCallFailed", run_id=run_id)


def _finished(url: str, run_id: str) -> Any:
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        [event] = storage.events.read(type="RunFinished", run_id=run_id)
    return event


@pytest.mark.parametrize(
    ("step", "error_type", "words"),
    [
        (f.reasoning_only("Let me think about 60/40 in depth"), "LLMEmptyAnswer", "empty answer"),
        (f.answer("   "), "LLMEmptyAnswer", "empty answer"),
        (f.truncated(), "LLMTruncated", "cut off at max_tokens"),
        # An error mid-answer naming no status: the upstream's failure, retried within the call too.
        (f.error_mid_answer(provider="Chutes", code=None), "LLMUnavailable", "Chutes"),
        (f.content_filter(), "LLMContentFiltered", "content filter"),
        # An in-body 5xx is retried within the call like an HTTP 5xx, then unavailable (temporary).
        (f.error_body(200, 502, "Provider returned error", "Together", "overloaded"), "LLMUnavailable", "Together"),
    ],
)
def test_a_member_whose_reply_is_no_answer_is_a_recorded_failure_and_the_run_is_degraded(
    live: FakeLLM, cli_env: dict[str, str], step: f.Step, error_type: str, words: str
) -> None:
    live.behaviour = _grok_answers(step)
    result = runner.invoke(app, ["council", QUERY, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [a["model"] for a in report["answers"]] == [m for m in MEMBERS if m != GROK]
    assert all(a["text"].strip() for a in report["answers"])
    [failure] = report["failures"]
    assert failure["model"] == GROK and words in failure["error"]
    [failed] = _failed_calls(cli_env["DATABASE_URL"], report["run_id"])
    assert failed.payload["error_type"] == error_type and failed.payload["model"] == GROK
    assert _finished(cli_env["DATABASE_URL"], report["run_id"]).payload["degraded"] is True
    assert report["verdict"].strip()


def test_a_think_block_is_kept_out_of_the_printed_answers_and_verdict(live: FakeLLM) -> None:
    live.behaviour = _when(
        lambda b: "response_format" not in b, f.think_then("SECRET-MUSING", "A public answer about 60/40.")
    )
    result = runner.invoke(app, ["council", QUERY])
    assert result.exit_code == 0, result.output
    assert "A public answer about 60/40." in result.stdout
    assert "SECRET-MUSING" not in result.stdout and "<think>" not in result.stdout


def test_a_failed_member_is_printed_as_failed_in_the_text_report(live: FakeLLM) -> None:
    live.behaviour = _grok_answers(f.truncated())
    result = runner.invoke(app, ["council", QUERY])
    assert result.exit_code == 0, result.output
    assert f"[{GROK}] failed in answers" in result.stdout and "cut off at max_tokens" in result.stdout


@pytest.mark.parametrize(
    ("step", "words"),
    [
        (f.reasoning_only("still weighing the answers"), "empty answer"),
        (f.truncated(), "cut off at max_tokens"),
        (f.error_mid_answer(provider="Chutes", code=None), "Chutes"),
    ],
)
def test_a_chairman_without_a_usable_verdict_fails_the_run_clearly(
    live: FakeLLM, cli_env: dict[str, str], step: f.Step, words: str
) -> None:
    live.behaviour = _when(_is_chairman, step)
    result = runner.invoke(app, ["council", QUERY, "--json"])
    assert result.exit_code in (1, 75), result.output
    assert words in result.stderr and "Traceback" not in result.output
    assert result.stdout.strip() == "" or "verdict" not in result.stdout


def test_a_daily_quota_on_every_member_exits_75_at_once(live: FakeLLM) -> None:
    live.behaviour = f.rate_limited("86400", "Rate limit exceeded: free-models-per-day")
    result = runner.invoke(app, ["council", QUERY])
    assert result.exit_code == 75, result.output
    assert "quota" in result.stderr and "Traceback" not in result.output
    assert len(live.requests) == len(MEMBERS)  # one request each, no minutes of retrying


def test_a_google_per_minute_quota_is_waited_out_and_the_council_answers(live: FakeLLM) -> None:
    """Google words a per-minute quota as it does a daily one ("You exceeded your current quota, please check your plan
    and billing details") and names the wait in RetryInfo: the council failed at once, exit 75, 'a quota that resets
    later', where a second's wait would do."""
    per_minute = f.google_quota(retry_delay="1s")
    for _ in MEMBERS:
        live.then(per_minute)
    result = runner.invoke(app, ["council", QUERY, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verdict"].strip() and report["failures"] == [] and "quota" not in result.stderr
    assert [a["model"] for a in report["answers"]] == MEMBERS  # every member answered after its wait


def test_an_openrouter_400_shows_the_upstream_reason_to_the_user(live: FakeLLM) -> None:
    raw = json.dumps({"error": {"message": "max_tokens exceeds this model's limit of 2048"}})
    live.behaviour = _grok_answers(f.error_body(400, 400, "Provider returned error", "Fireworks", raw))
    result = runner.invoke(app, ["council", QUERY])
    assert result.exit_code == 0, result.output
    assert "Fireworks" in result.stdout and "max_tokens exceeds this model's limit of 2048" in result.stdout
