"""What the OpenAI-compatible layers people use answer, as their documentation and public reports show, that the
committee's call already read right before this trial (tests/test_compat_layers.py has what it did not): kept so.

A temporary failure is waited (the wait the layer names) or backed off, and the call answers; a permanent one fails at
once with the provider's own words in the error and in the call's LLMCallFailed, its exit code the documented one."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from llmtrade.config.models import ModelRef
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.errors import LLMAuthRejected, LLMNoEndpoint, LLMOutOfCredits
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.types import ChatMessage
from llmtrade.reply_errors import LLMContentFiltered, LLMEmptyAnswer
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache

BASE = "https://llm.test/v1"
REF = ModelRef(model="m/pm", provider="layer", max_tokens=1000)
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
MESSAGES = (ChatMessage(role="system", content="You are a PM."), ChatMessage(role="user", content="Pitch."))
OK = {
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hold SPY."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 30, "completion_tokens": 4},
}


def _google(code: int, message: str, status: str, details: list[Any] | None = None) -> list[dict[str, Any]]:
    return [
        {"error": {"code": code, "message": message, "status": status, **({"details": details} if details else {})}}
    ]


def _anthropic(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _openai(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


_PER_MINUTE = [
    {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "quotaValue": "15"}],
    },
    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"},
]
_MID_STREAM = (
    ': OPENROUTER PROCESSING\n\ndata: {"choices":[{"index":0,"delta":{"content":"Hold"}}]}\n\n'
    'data: {"error":{"code":"server_error","message":"Provider disconnected unexpectedly"},'
    '"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}\n\n'
)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _call(storage: Storage, first: httpx.Response) -> tuple[list[float], int]:
    """One committee call whose first attempt gets `first` and any later one a good answer: the waits and requests."""
    sleeps = Sleeps()
    client = OpenAICompatibleClient("layer", BASE, "k", sleep=sleeps)
    gateway = LLMGateway(
        mode=LLMMode.LIVE, clients={"layer": client}, prices={}, events=storage.events, cache=AnswerCache(storage.conn)
    )
    with respx.mock() as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(side_effect=[first, *[httpx.Response(200, json=OK)] * 5])
        try:
            asyncio.run(gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "rules"))
        finally:
            asyncio.run(client.aclose())
    return sleeps.calls, route.call_count


@pytest.mark.parametrize(
    ("first", "wait"),
    [
        (
            httpx.Response(
                429, json=_google(429, "You exceeded your current quota", "RESOURCE_EXHAUSTED", _PER_MINUTE)
            ),
            26,
        ),
        (
            httpx.Response(
                429, json=_google(429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED")
            ),
            None,
        ),
        (
            httpx.Response(503, json=_google(503, "The model is overloaded. Please try again later.", "UNAVAILABLE")),
            None,
        ),
        (httpx.Response(529, json=_anthropic("overloaded_error", "Overloaded")), None),
        (httpx.Response(429, json=_anthropic("rate_limit_error", "Rate limited"), headers={"retry-after": "7"}), 7),
        (
            httpx.Response(
                200,
                json={
                    "error": {
                        "code": 429,
                        "message": "Provider returned error",
                        "metadata": {"raw": "temporarily rate-limited upstream", "provider_name": "BaseTen"},
                    }
                },
            ),
            None,
        ),
        (httpx.Response(200, text=_MID_STREAM, headers={"content-type": "text/event-stream"}), None),
        (httpx.Response(503, json=_openai("Server overloaded, please retry shortly.", "server_error", None)), None),
        (
            httpx.Response(500, json=_openai("llama runner process has terminated: exit status 2", "api_error", None)),
            None,
        ),
    ],
    ids=[
        "google 429 RetryInfo",
        "google 429 bare",
        "google 503",
        "anthropic 529",
        "anthropic 429",
        "openrouter 429 in a 200",
        "openrouter error mid-stream",
        "deepseek 503",
        "ollama 500",
    ],
)
def test_a_temporary_failure_is_waited_and_the_call_answers(
    storage: Storage, first: httpx.Response, wait: int | None
) -> None:
    sleeps, requests = _call(storage, first)
    assert requests == 2 and len(sleeps) == 1
    assert wait is None or sleeps == [wait]
    [done] = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    assert done.answer == "Hold SPY." and done.attempts == 2
    assert storage.events.read(type="LLMCallFailed") == []


@pytest.mark.parametrize(
    ("first", "kind", "words"),
    [
        (
            httpx.Response(402, json=_openai("Insufficient Balance", "unknown_error", "invalid_request_error")),
            LLMOutOfCredits,
            "Insufficient Balance",
        ),
        (
            httpx.Response(402, json={"error": {"code": 402, "message": "Insufficient credits"}}),
            LLMOutOfCredits,
            "Insufficient credits",
        ),
        (
            httpx.Response(404, json=_openai('model "llama3" not found, try pulling it first', "api_error", None)),
            LLMNoEndpoint,
            'model "llama3" not found, try pulling it first',
        ),
        (
            httpx.Response(404, json=_google(404, "models/gemini-9 is not found", "NOT_FOUND")),
            LLMNoEndpoint,
            "gemini-9 is not found",
        ),
        (
            httpx.Response(401, json=_anthropic("authentication_error", "invalid x-api-key")),
            LLMAuthRejected,
            "invalid x-api-key",
        ),
        (
            httpx.Response(
                200, json={"choices": [{"index": 0, "message": {"role": "assistant"}, "finish_reason": "SAFETY"}]}
            ),
            LLMContentFiltered,
            "finish_reason SAFETY",
        ),
        (
            httpx.Response(
                200,
                json={
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "", "reasoning_content": "Hold."},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 30, "completion_tokens": 40},
                },
            ),
            LLMEmptyAnswer,
            "only in the reasoning field",
        ),
    ],
    ids=[
        "deepseek 402",
        "openrouter 402",
        "ollama 404 model",
        "google 404 model",
        "anthropic 401",
        "google SAFETY",
        "deepseek reasoning only",
    ],
)
def test_a_permanent_failure_fails_at_once_in_the_providers_words(
    storage: Storage, first: httpx.Response, kind: type[Exception], words: str
) -> None:
    with pytest.raises(kind) as caught:
        _call(storage, first)
    assert words in str(caught.value)
    [failed] = [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]
    assert failed.error_type == kind.__name__ and words in failed.error
