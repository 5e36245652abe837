"""Ollama's 500 "no user query found in messages" (ollama/ollama#18107, #18303): past num_ctx it drops the oldest
messages, the user's among them, and its chat template then refuses the conversation. The same conversation is cut the
same way on every attempt: it is LLMContextExceeded at once, naming num_ctx and context_tokens, not a 5xx waited on."""

from __future__ import annotations

import asyncio
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
from llmtrade.reply_errors import LLMContextExceeded
from llmtrade.storage.bootstrap import Storage

URL = "http://localhost:11434/v1/chat/completions"
# /v1/chat/completions' body, as ollama/ollama#18303 shows it; its native /api/chat sends {"error": "..."}.
OPENAI_SHAPE = {
    "error": {"message": "no user query found in messages", "type": "api_error", "param": None, "code": None}
}
NATIVE_SHAPE = {"error": "chat prompt error: no user query found in messages"}


async def _no_wait(_: float) -> None:
    return None


@pytest.mark.parametrize("body", [OPENAI_SHAPE, NATIVE_SHAPE])
def test_no_user_query_is_final_for_the_prompt(body: dict[str, Any]) -> None:
    client = OpenAICompatibleClient("ollama", "http://localhost:11434/v1", None, max_retries=4, sleep=_no_wait)
    request = ChatRequest(model="qwen3:8b", messages=(ChatMessage(role="user", content="Rank."),), max_tokens=100)
    with respx.mock() as mock:
        route = mock.post(URL).mock(return_value=httpx.Response(500, json=body))
        with pytest.raises(LLMContextExceeded) as refused:
            asyncio.run(client.send(request))
    assert route.call_count == 1
    said = str(refused.value)
    assert "no user query found in messages" in said and "num_ctx" in said and "context_tokens" in said
    assert "did not answer" not in said


def test_asks_turn_is_not_asked_again_and_is_recorded(storage: Storage) -> None:
    chat = ToolChat(
        provider="ollama",
        base_url="http://localhost:11434/v1",
        api_key=None,
        model="qwen3:8b",
        max_tokens=200,
        events=storage.events,
        price=None,
        retry=RetryPolicy(max_retries=4),
        sleep=_no_wait,
    )
    with respx.mock() as mock:
        route = mock.post(URL).mock(return_value=httpx.Response(500, json=OPENAI_SHAPE))
        with pytest.raises(LLMContextExceeded, match="num_ctx"):
            asyncio.run(chat.turn([{"role": "user", "content": "Why?"}], [], CallSite(role="ask", run_id="r")))
    assert route.call_count == 1
    [failed] = [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]
    assert failed.error_type == "LLMContextExceeded"
