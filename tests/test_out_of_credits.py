"""402 (insufficient credits) and 408 (request timed out upstream) are not permanent refusals (trial L, defect 4).

OpenRouter's error docs: 402 "Your account or API key has insufficient credits. Add more credits and retry the
request" (`error.metadata.limit_source` says which limit), 408 "Your request timed out". Both were final: a
PitchFailed at once, the PM's account closed out for the week, and a DEGRADED line with no reason. Now 408 is
retried like a 5xx and 402 is temporary until the stage's deadline (exit 75, saying to add credits); at the deadline
the degraded line carries the provider's reason. HTTP mocked at the transport (respx, tests/fakes/llm_transport.py).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.errors import LLMOutOfCredits, TemporaryError
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.types import ChatMessage, ChatRequest
from tests.fakes.committee_answers import committee_answer
from tests.fakes.llm_faults import Fault
from tests.fakes.llm_transport import BASE_URL, FakeLLM, fake_llm
from tests.support import WEDNESDAY_8AM, stored_events

runner = CliRunner()
REQUEST = ChatRequest(model="m/one", messages=(ChatMessage(role="user", content="hi"),))
PAST_DEADLINE = "2026-01-07T09:05:00-05:00"
GPT = "openai/gpt-5.1"
NO_CREDITS = {
    "error": {
        "code": 402,
        "message": "Insufficient credits. Add more using https://openrouter.ai/settings/credits",
        "metadata": {"limit_source": "openrouter_credits"},
    }
}


async def _no_sleep(_: float) -> None:
    return None


def _client() -> OpenAICompatibleClient:
    return OpenAICompatibleClient("openrouter", BASE_URL, "sk-test", max_retries=2, sleep=_no_sleep)


def test_a_408_is_retried_like_a_5xx() -> None:
    with fake_llm() as fake:
        fake.then(httpx.Response(408, json={"error": {"code": 408, "message": "Request timed out"}}))
        reply = asyncio.run(_client().send(REQUEST))
    assert reply.attempts == 2 and len(fake.requests) == 2


def test_a_402_is_temporary_at_once_and_says_to_add_credits() -> None:
    with fake_llm() as fake:
        fake.then(httpx.Response(402, json=NO_CREDITS))
        with pytest.raises(LLMOutOfCredits) as caught:
            asyncio.run(_client().send(REQUEST))
    assert len(fake.requests) == 1  # waiting inside the run does not top the account up
    assert isinstance(caught.value, TemporaryError)
    said = str(caught.value)
    assert "insufficient credits at openrouter: add credits" in said and "limit_source openrouter_credits" in said


def _gpt_has_no_credits(body: dict[str, Any]) -> Fault:
    if body["model"] == GPT:
        return Fault(402, NO_CREDITS)
    return Fault(200, committee_answer(body))


def test_a_pm_whose_provider_has_no_credits_waits_until_the_deadline_then_its_degraded_line_says_why(
    live: FakeLLM, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = cli_env["DATABASE_URL"]
    live.behaviour = _gpt_has_no_credits
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    first = runner.invoke(app, ["run-weekly"])
    assert first.exit_code == 75, first.output
    said = " ".join(first.output.split())
    assert "waiting for gpt" in said and "insufficient credits at openrouter: add credits" in said
    assert stored_events(url, type="PitchFailed") == []  # nothing final: a top-up and a rerun get the pitch

    monkeypatch.setenv("LLMTRADE_NOW", PAST_DEADLINE)
    second = runner.invoke(app, ["run-weekly", "--json"])
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert report["failed_pms"] == ["gpt"]
    [line] = [d for d in report["degraded"] if "gpt" in d]
    assert "insufficient credits at openrouter: add credits" in line and "stays flat" in line


def test_a_stage_line_counts_the_requests_it_sent(live: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen in a trial: "pitches: failed in 0.09 s (3 model calls)" of a stage that had sent 5 requests. A retried
    request is a request sent (and, at a provider that bills failed attempts, perhaps paid for)."""
    answered: set[str] = set()

    def once_timed_out(body: dict[str, Any]) -> Fault:
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
        if body["model"] == GPT and schema == "PitchAnswer" and "gpt" not in answered:
            answered.add("gpt")
            return Fault(408, {"error": {"code": 408, "message": "Request timed out"}})
        return Fault(200, committee_answer(body))

    live.behaviour = once_timed_out
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    ran = runner.invoke(app, ["run-weekly"])
    assert ran.exit_code == 0, ran.output
    [line] = [x for x in ran.stderr.splitlines() if x.strip().startswith("pitches: completed")]
    assert line.endswith("(5 model requests)")  # four PMs, and gpt's request again after its 408
