"""A provider's own reason reaches the message and the call's event, in the shapes providers really send.

Google's errors are google.rpc.Status objects (cloud.google.com/apis/design/errors): a short `message`, and the reason
that tells one refusal from another in `details`: ErrorInfo's `reason` (API_KEY_INVALID, SERVICE_DISABLED),
QuotaFailure's `quotaId` (per minute or per day: GenerateRequestsPerDayPerProjectPerModel-FreeTier) and value,
RetryInfo's `retryDelay`, BadRequest's field violations. Its OpenAI-compatible endpoint sends it in a list. vLLM and
Mistral send their error object as the whole body.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx

from llmtrade.config.models import ModelRef
from llmtrade.domain.events import LLMCallFailed
from llmtrade.errors import LLMAuthRejected, LLMRateLimited, LLMRequestRejected, LLMServerOutOfMemory, LLMUnavailable
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.retry_policy import RetryPolicy
from llmtrade.llm.tool_chat import ToolChat
from llmtrade.llm.types import ChatMessage, ChatRequest
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache

BASE = "https://generativelanguage.googleapis.com/v1beta/openai"
REQUEST = ChatRequest(model="gemini-2.0-flash", messages=(ChatMessage(role="user", content="hi"),), max_tokens=100)


def _google(code: int, status: str, message: str, *details: dict[str, Any]) -> list[dict[str, Any]]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return [{"error": error}]


QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more information on this "
    "error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
HELP = {
    "@type": "type.googleapis.com/google.rpc.Help",
    "links": [
        {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
        }
    ],
}


def _quota(quota_id: str, value: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
            {
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": quota_id,
                "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"},
                "quotaValue": value,
            }
        ],
    }


def _retry(delay: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


def _error_info(reason: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }


async def _no_wait(seconds: float) -> None:
    return None


def _refused(body: Any, status: int) -> BaseException:
    client = OpenAICompatibleClient("google", BASE, "k", max_retries=1, sleep=_no_wait)
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(status, json=body))
        with pytest.raises(Exception) as raised:
            asyncio.run(client.send(REQUEST))
    return raised.value


@pytest.mark.parametrize(
    ("body", "status", "kind", "words"),
    [
        (
            _google(
                429,
                "RESOURCE_EXHAUSTED",
                QUOTA_MESSAGE,
                HELP,
                _quota("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "50"),
                _retry("23s"),
            ),
            429,
            LLMRateLimited,
            ["quota GenerateRequestsPerDayPerProjectPerModel-FreeTier (limit 50)", "retry in 23s"],
        ),
        (
            _google(
                429,
                "RESOURCE_EXHAUSTED",
                QUOTA_MESSAGE,
                _quota("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "15"),
                _retry("1s"),
            ),
            429,
            LLMUnavailable,
            ["quota GenerateRequestsPerMinutePerProjectPerModel-FreeTier (limit 15)"],
        ),
        (
            _google(
                400, "INVALID_ARGUMENT", "API key expired. Please renew the API key.", _error_info("API_KEY_INVALID")
            ),
            400,
            LLMAuthRejected,
            ["API key expired", "reason API_KEY_INVALID"],
        ),
        (
            _google(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity).",
                _error_info("CONSUMER_INVALID"),
            ),
            403,
            LLMAuthRejected,
            ["unregistered callers", "reason CONSUMER_INVALID"],
        ),
        (
            _google(
                400,
                "INVALID_ARGUMENT",
                "Request contains an invalid argument.",
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [
                        {
                            "field": "generation_config.max_output_tokens",
                            "description": "The requested max_output_tokens is out of range.",
                        }
                    ],
                },
            ),
            400,
            LLMRequestRejected,
            ["generation_config.max_output_tokens: The requested max_output_tokens is out of range."],
        ),
    ],
    ids=["daily quota", "per-minute quota", "key expired", "no identity", "field violation"],
)
def test_googles_details_say_which_refusal_it_is(
    body: Any, status: int, kind: type[Exception], words: list[str]
) -> None:
    """The message alone ("You exceeded your current quota") does not say a day's quota from a minute's, nor which
    field or which key check refused: the details do, and the user reads them in the message."""
    refused = _refused(body, status)
    assert type(refused) is kind, refused
    said = str(refused)
    assert body[0]["error"]["message"].split(".")[0] in said
    for word in words:
        assert word in said, said


def test_the_calls_event_keeps_googles_details(storage: Storage) -> None:
    client = OpenAICompatibleClient("google", BASE, "k", max_retries=0, sleep=_no_wait)
    gateway = LLMGateway(
        mode=LLMMode.LIVE, clients={"google": client}, prices={}, events=storage.events, cache=AnswerCache(storage.conn)
    )
    body = _google(
        429, "RESOURCE_EXHAUSTED", QUOTA_MESSAGE, _quota("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "50")
    )
    ref = ModelRef(model="gemini-2.0-flash", provider="google", max_tokens=100)
    site = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(429, json=body))
        with pytest.raises(LLMRateLimited):
            asyncio.run(gateway.ask_text(ref, REQUEST.messages, site, rules=lambda rng: "rules"))
    [failed] = [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]
    assert "quota GenerateRequestsPerDayPerProjectPerModel-FreeTier (limit 50)" in failed.error


@pytest.mark.parametrize(
    ("body", "status", "kind", "said"),
    [
        (
            # vLLM's ErrorResponse (its OpenAI-compatible server before the error object moved under "error")
            {
                "object": "error",
                "message": "The model `qwen3` does not exist.",
                "type": "NotFoundError",
                "param": None,
                "code": 404,
            },
            404,
            Exception,
            "HTTP 404: The model `qwen3` does not exist. (code 404);",
        ),
        (
            # Mistral's error body, the same shape
            {
                "object": "error",
                "message": "Requests rate limit exceeded",
                "type": "rate_limited",
                "param": None,
                "code": "1300",
            },
            429,
            LLMUnavailable,
            "HTTP 429: Requests rate limit exceeded (code 1300)",
        ),
    ],
    ids=["vllm", "mistral"],
)
def test_an_error_object_at_the_bodys_top_is_said_by_its_message_not_as_json(
    body: dict[str, Any], status: int, kind: type[Exception], said: str
) -> None:
    """vLLM and Mistral send the error object as the whole body ({"object": "error", "message": ...}); it was shown as
    its JSON text, cut at 300 characters, a long message's end lost."""
    refused = _refused(body, status)
    assert isinstance(refused, kind), refused
    assert said in str(refused) and '"object"' not in str(refused)


def test_openais_insufficient_quota_says_billing_mends_it_not_a_reset() -> None:
    """OpenAI's 429 insufficient_quota (a prepaid balance spent, or a plan's monthly limit reached) names no wait, and
    no wait mends it: it failed at once, rightly, but told the user to "try again after the quota resets"."""
    body = {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details. For more "
            "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    refused = _refused(body, 429)
    assert isinstance(refused, LLMRateLimited) and refused.exit_code == 75
    said = str(refused)
    assert "You exceeded your current quota" in said and "code insufficient_quota" in said
    assert "no quota or credits left" in said and "add credits" in said and "resets" not in said


def test_ollamas_model_too_big_for_the_servers_memory_is_not_waited_on() -> None:
    """Ollama answers a model its machine cannot hold with a 500 (ollama/ollama#4486, and continuedev/continue's many
    reports): "model requires more system memory (7.3 GiB) than is available (6.0 GiB)". Read as any 5xx, each call
    was asked again and again for minutes, the same answer each time. No wait makes room: it fails at once, temporary
    for the run (freeing memory or a smaller model mends it, and the next run asks again), saying what mends it."""
    client = OpenAICompatibleClient("ollama", "http://localhost:11434/v1", None, max_retries=4, sleep=_no_wait)
    body = {"error": "model requires more system memory (7.3 GiB) than is available (6.0 GiB)"}
    with respx.mock() as mock:
        route = mock.post("http://localhost:11434/v1/chat/completions").mock(
            return_value=httpx.Response(500, json=body)
        )
        with pytest.raises(LLMServerOutOfMemory) as refused:
            asyncio.run(client.send(REQUEST))
    assert route.call_count == 1 and refused.value.exit_code == 75
    said = str(refused.value)
    assert "model requires more system memory (7.3 GiB) than is available (6.0 GiB)" in said
    assert "smaller" in said and "memory" in said and "did not answer" not in said


def test_asks_turn_is_not_asked_again_on_a_server_short_of_memory(storage: Storage) -> None:
    chat = ToolChat(
        provider="ollama",
        base_url="http://localhost:11434/v1",
        api_key=None,
        model="llama3.1:8b",
        max_tokens=200,
        events=storage.events,
        price=None,
        retry=RetryPolicy(max_retries=4),
        sleep=_no_wait,
    )
    body = {"error": "model requires more system memory (5.3 GiB) than is available (4.4 GiB)"}
    with respx.mock() as mock:
        route = mock.post("http://localhost:11434/v1/chat/completions").mock(
            return_value=httpx.Response(500, json=body)
        )
        with pytest.raises(LLMServerOutOfMemory, match="than is available"):
            asyncio.run(chat.turn([{"role": "user", "content": "Why?"}], [], CallSite(role="ask", run_id="r")))
    assert route.call_count == 1


def test_googles_details_relayed_by_openrouter_are_said_too() -> None:
    """OpenRouter relays Google's body as a JSON string in metadata.raw, where the details are: the quota's id (a
    day's or a minute's) reached the user only when the body came from Google itself."""
    google = _google(
        429,
        "RESOURCE_EXHAUSTED",
        QUOTA_MESSAGE,
        _quota("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "50"),
        _retry("23s"),
    )[0]
    body = {
        "error": {
            "message": "Provider returned error",
            "code": 429,
            "metadata": {"raw": json.dumps(google, indent=2), "provider_name": "Google AI Studio"},
        }
    }
    said = str(_refused(body, 429))
    assert "upstream provider Google AI Studio" in said and "You exceeded your current quota" in said
    assert "quota GenerateRequestsPerDayPerProjectPerModel-FreeTier (limit 50)" in said
