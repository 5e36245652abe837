"""`llmtrade ask` waits out a temporary failure as the weekly jobs' calls do (llm/retry_policy.py: the provider's
max_retries, Retry-After capped at max_retry_after_seconds, backoff otherwise) and says what it waits for. It asked
each turn once: a 503 or a 429 asking for two seconds failed the command at once (exit 75). Providers answer as their
documentation shows: Anthropic's 529 overloaded_error, OpenAI's 429 with Retry-After, OpenRouter's 502 relayed in a
200 and its 429 for a free model's daily quota (respx at the transport; the command end to end over a socket)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.errors import LLMRateLimited, LLMUnavailable
from llmtrade.llm.records import CallSite
from llmtrade.llm.retry_policy import RetryPolicy
from llmtrade.llm.tool_chat import ToolChat, Turn
from llmtrade.storage.bootstrap import Storage
from tests.fakes import llm_faults as f
from tests.fakes.openai_server import FakeOpenAIServer

BASE = "https://llm.test/v1"
SITE = CallSite(role="ask", run_id="run-ask")
MESSAGES = [{"role": "user", "content": "Why did acct_3 exit on Thursday?"}]
ANSWER = {
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "It hit its stop."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 30, "completion_tokens": 6},
}
OVERLOADED = httpx.Response(529, json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
RATE_LIMITED = httpx.Response(
    429,
    headers={"retry-after": "2"},
    json={"error": {"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"}},
)
RELAYED_502 = httpx.Response(
    200,
    json={"error": {"code": 502, "message": "Provider returned error", "metadata": {"provider_name": "Together"}}},
)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _turn(storage: Storage, *answers: httpx.Response, retries: int = 4) -> tuple[Turn, Sleeps, list[str], int]:
    sleeps, said = Sleeps(), []
    chat = ToolChat(
        provider="openrouter",
        base_url=BASE,
        api_key="sk-test",
        model="m/ask",
        max_tokens=50,
        events=storage.events,
        price=None,
        timeout_seconds=5,
        retry=RetryPolicy(max_retries=retries, max_retry_after=120.0),
        sleep=sleeps,
        on_wait=said.append,
    )
    with respx.mock() as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(side_effect=list(answers))
        return asyncio.run(chat.turn(MESSAGES, [], SITE)), sleeps, said, route.call_count


def _events(storage: Storage, kind: type) -> list[Any]:
    return [kind.from_event(e) for e in storage.events.read(type=kind.event_type())]


def test_a_temporary_failure_is_waited_out_and_said(storage: Storage) -> None:
    turn, sleeps, said, sent = _turn(storage, OVERLOADED, RATE_LIMITED, RELAYED_502, httpx.Response(200, json=ANSWER))
    assert turn.content == "It hit its stop." and sent == 4
    assert len(sleeps.calls) == 3 and sleeps.calls[1] == 2.0  # the wait the 429 asked for
    assert "Overloaded" in said[0] and "attempt 1 of 5" in said[0] and "waiting" in said[0]
    assert "as the provider asked" in said[1] and "Together" in said[2]
    [done] = _events(storage, LLMCallCompleted)
    assert "asked again after 2.0 s (as the provider asked)" in (done.note or "")
    assert [e.error_type for e in _events(storage, LLMCallFailed)] == ["LLMUnavailable"] * 3  # each attempt recorded


def test_a_failure_every_time_ends_unavailable_after_the_policys_attempts(storage: Storage) -> None:
    with pytest.raises(LLMUnavailable, match=r"after 3 attempt\(s\)") as caught:
        _turn(storage, OVERLOADED, OVERLOADED, OVERLOADED, OVERLOADED, retries=2)
    assert not isinstance(caught.value, LLMRateLimited) and "Overloaded" in str(caught.value)
    assert len(_events(storage, LLMCallFailed)) == 3


def test_a_wait_past_the_providers_cap_fails_at_once_as_the_jobs_do(storage: Storage) -> None:
    daily = httpx.Response(
        429,
        headers={"retry-after": "86400"},
        json={"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-day"}},
    )
    with pytest.raises(LLMRateLimited):
        _turn(storage, daily, httpx.Response(200, json=ANSWER))
    assert len(_events(storage, LLMCallFailed)) == 1


def test_llmtrade_ask_waits_out_an_overload_and_answers(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeOpenAIServer() as server:
        server.then(f.error_body(503, 503, "No instances available", "Fireworks", "service unavailable"))
        monkeypatch.setenv("LLMTRADE_LLM_BASE_URL", server.base_url)
        result = CliRunner().invoke(app, ["ask", "what did the committee decide this week?"])
        requests = list(server.requests)
    assert result.exit_code == 0, result.output
    assert len(requests) == 2
    assert "ask: " in result.output and "No instances available" in result.output and "waiting" in result.output
