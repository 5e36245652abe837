"""A prompt a content filter refused with a 400 (OpenAI's invalid_prompt, Azure OpenAI's content_filter) is
LLMContentFiltered, as a reply withheld by a filter and OpenRouter's moderation 403 are: one type for events and alerts.

Bodies as the providers send them (openai/openai-agents-python#806, alan-turing-institute/t0-1#69)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx

from llmtrade.domain.events import LLMCallFailed
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.records import CallSite
from llmtrade.llm.retry_policy import RetryPolicy
from llmtrade.llm.tool_chat import ToolChat
from llmtrade.llm.types import ChatMessage, ChatRequest
from llmtrade.reply_errors import LLMContentFiltered
from llmtrade.storage.bootstrap import Storage

OPENAI = {
    "error": {
        "message": "Invalid prompt: your prompt was flagged as potentially violating our usage policy. Please try "
        "again with a different prompt: https://platform.openai.com/docs/guides/reasoning#advice-on-prompting",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_prompt",
    }
}
AZURE = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
        "Please modify your prompt and retry. To learn more about our content filtering policies please read our "
        "documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": {"filtered": False, "severity": "safe"},
                "jailbreak": {"filtered": True, "detected": True},
                "violence": {"filtered": True, "severity": "medium"},
            },
        },
    }
}
# OpenRouter relays the upstream's body as a JSON string in metadata.raw.
RELAYED = {
    "error": {
        "message": "Provider returned error",
        "code": 400,
        "metadata": {"raw": json.dumps(OPENAI), "provider_name": "OpenAI"},
    }
}


async def _no_wait(_: float) -> None:
    return None


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (OPENAI, "invalid_prompt"),
        (AZURE, "content_filter: jailbreak, violence (medium)"),
        (RELAYED, "invalid_prompt"),
    ],
)
def test_a_400_of_a_content_filter_is_content_filtered_at_once(body: dict[str, Any], said: str) -> None:
    client = OpenAICompatibleClient("openai", "https://api.example.com/v1", "k", max_retries=4, sleep=_no_wait)
    request = ChatRequest(model="o3", messages=(ChatMessage(role="user", content="Rank NVDA."),), max_tokens=100)
    with respx.mock() as mock:
        route = mock.post("https://api.example.com/v1/chat/completions").mock(
            return_value=httpx.Response(400, json=body)
        )
        with pytest.raises(LLMContentFiltered) as refused:
            asyncio.run(client.send(request))
    assert route.call_count == 1
    text = str(refused.value)
    assert f"content filter refused the prompt ({said})" in text and "reword the prompt" in text


def test_an_ordinary_400_is_still_a_rejected_request() -> None:
    client = OpenAICompatibleClient("openai", "https://api.example.com/v1", "k", max_retries=4, sleep=_no_wait)
    request = ChatRequest(model="o3", messages=(ChatMessage(role="user", content="hi"),), max_tokens=100)
    body = {"error": {"message": "Unrecognized request argument supplied: foo", "type": "invalid_request_error"}}
    with respx.mock() as mock:
        mock.post("https://api.example.com/v1/chat/completions").mock(return_value=httpx.Response(400, json=body))
        with pytest.raises(Exception) as refused:
            asyncio.run(client.send(request))
    assert not isinstance(refused.value, LLMContentFiltered)


def test_asks_turn_refused_by_azures_filter_is_recorded_as_content_filtered(storage: Storage) -> None:
    chat = ToolChat(
        provider="azure",
        base_url="https://example.openai.azure.com/openai/v1",
        api_key="k",
        model="gpt-4o",
        max_tokens=200,
        events=storage.events,
        price=None,
        retry=RetryPolicy(max_retries=4),
        sleep=_no_wait,
    )
    with respx.mock() as mock:
        route = mock.post("https://example.openai.azure.com/openai/v1/chat/completions").mock(
            return_value=httpx.Response(400, json=AZURE)
        )
        with pytest.raises(LLMContentFiltered, match="jailbreak"):
            asyncio.run(chat.turn([{"role": "user", "content": "Why?"}], [], CallSite(role="ask", run_id="r")))
    assert route.call_count == 1
    [failed] = [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]
    assert failed.error_type == "LLMContentFiltered"
