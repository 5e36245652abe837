"""vLLM's 400s for a conversation past the model's window are LLMContextExceeded naming the window to set as
context_tokens, as Ollama's 500 for a conversation it cut to no user turn is (tests/test_ollama_no_user_query.py).

vLLM answers its ErrorResponse (`{"object": "error", "message": ..., "type": "BadRequestError", "code": 400}`, or the
same under "error" in later releases) with the words of the check that refused: "This model's maximum context length
is N tokens. However, you requested M tokens (A in the messages, B in the completion)" (vllm-project/vllm#20409), "...
However, your request has M input tokens", or its v1 engine's "The decoder prompt (length M) is longer than the
maximum model length of N", which was read as a request rejected for its form (exit 1) with no word of the window. A
chat template such as Qwen3's refuses a conversation with no user turn left ("No user query found in messages.", a 400
from vLLM, a 500 from llama.cpp's server): past a window, the server or a proxy before it dropped the user's message. A
request sent with no user message at all is no window's doing: it stays a rejected request, and says so."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from llmtrade.domain.events import LLMCallFailed
from llmtrade.errors import LLMRequestRejected
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.records import CallSite
from llmtrade.llm.tool_chat import ToolChat
from llmtrade.llm.types import ChatMessage, ChatRequest
from llmtrade.reply_errors import LLMContextExceeded
from llmtrade.storage.bootstrap import Storage

BASE = "http://localhost:8000/v1"
URL = f"{BASE}/chat/completions"


def _vllm(message: str, *, nested: bool = False) -> dict[str, Any]:
    error = {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400}
    return {"error": {k: v for k, v in error.items() if k != "object"}} if nested else error


REFUSALS = {
    "you requested": (
        _vllm(
            "This model's maximum context length is 8192 tokens. However, you requested 9100 tokens (8900 in the "
            "messages, 200 in the completion). Please reduce the length of the messages or completion."
        ),
        8192,
    ),
    "your request has": (
        _vllm(
            "This model's maximum context length is 8192 tokens. However, your request has 9000 input tokens. Please "
            "reduce the length of the input messages.",
            nested=True,
        ),
        8192,
    ),
    "decoder prompt": (
        _vllm(
            "The decoder prompt (length 9000) is longer than the maximum model length of 8192. Make sure that "
            "`max_model_len` is no smaller than the number of text tokens."
        ),
        8192,
    ),
    "no user query": (_vllm("No user query found in messages."), None),
}


async def _no_wait(_: float) -> None:
    return None


def _send(messages: tuple[ChatMessage, ...], answer: httpx.Response) -> Exception:
    client = OpenAICompatibleClient("vllm", BASE, None, max_retries=3, sleep=_no_wait)
    request = ChatRequest(model="Qwen/Qwen3-8B", messages=messages, max_tokens=200)
    with respx.mock() as mock:
        route = mock.post(URL).mock(return_value=answer)
        with pytest.raises(Exception) as refused:
            asyncio.run(client.send(request))
    assert route.call_count == 1  # final: the same conversation meets the same window
    return refused.value


@pytest.mark.parametrize(("body", "window"), REFUSALS.values(), ids=REFUSALS.keys())
def test_a_conversation_past_vllms_window_is_context_exceeded(body: dict[str, Any], window: int | None) -> None:
    refused = _send((ChatMessage(role="user", content="Rank."),), httpx.Response(400, json=body))
    assert type(refused) is LLMContextExceeded, refused
    said = str(refused)
    assert "context_tokens" in said and "--max-model-len" in said
    if window is not None:
        assert f"{window}-token context window" in said
    else:
        assert "No user query found in messages" in said and "no user message was left" in said


def test_llama_cpps_500_for_no_user_query_is_context_exceeded_too() -> None:
    body = {
        "error": {"code": 500, "message": "Jinja Exception: No user query found in messages.", "type": "server_error"}
    }
    refused = _send((ChatMessage(role="user", content="Rank."),), httpx.Response(500, json=body))
    assert type(refused) is LLMContextExceeded and "context_tokens" in str(refused)


def test_a_request_sent_with_no_user_message_is_no_window_s_doing() -> None:
    body = REFUSALS["no user query"][0]
    refused = _send((ChatMessage(role="system", content="Rank."),), httpx.Response(400, json=body))
    assert type(refused) is LLMRequestRejected, refused
    assert "no user message" in str(refused) and "context window" not in str(refused)


def test_asks_turn_reads_vllms_window_alike(storage: Storage) -> None:
    chat = ToolChat(
        provider="vllm",
        base_url=BASE,
        api_key=None,
        model="Qwen/Qwen3-8B",
        max_tokens=200,
        events=storage.events,
        price=None,
    )
    body = REFUSALS["decoder prompt"][0]
    with respx.mock() as mock:
        mock.post(URL).mock(return_value=httpx.Response(400, json=body))
        with pytest.raises(LLMContextExceeded, match="context_tokens"):
            asyncio.run(chat.turn([{"role": "user", "content": "Why?"}], [], CallSite(role="ask", run_id="r")))
    [failed] = [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]
    assert failed.error_type == "LLMContextExceeded"
