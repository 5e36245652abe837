"""`ask`'s last turn, sent with no tools ("Answer now from what you have read"), must end in a text. A model that calls
a tool all the same (servers that parse a call out of the text whatever the request offered: vLLM's tool parsers, a
chat template that writes one) gave no answer: `ask` printed an empty one and recorded the run as finished."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from llmtrade.domain.events import LLMCallFailed
from llmtrade.llm.records import CallSite
from llmtrade.llm.tool_chat import ToolChat
from llmtrade.reply_errors import LLMEmptyAnswer
from tests.fakes.sinks import ListSink

BASE = "http://vllm.test/v1"
SITE = CallSite(role="ask", run_id="run-1")
TOOLS = [{"type": "function", "function": {"name": "events", "parameters": {"type": "object", "properties": {}}}}]


def _called(content: str | None) -> dict[str, Any]:
    """vLLM's answer calling a tool (its hermes parser): content beside the call, finish_reason "tool_calls"."""
    call = {"id": "chatcmpl-tool-5f1", "type": "function", "function": {"name": "events", "arguments": "{}"}}
    return {
        "id": "chatcmpl-9a",
        "object": "chat.completion",
        "model": "qwen3",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "tool_calls": [call]},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 900, "completion_tokens": 24, "total_tokens": 924},
    }


def _turn(body: dict[str, Any], tools: list[dict[str, Any]]) -> tuple[Any, ListSink]:
    sink = ListSink()
    chat = ToolChat(
        provider="vllm", base_url=BASE, api_key=None, model="qwen3", max_tokens=300, events=sink, price=None
    )
    messages = [{"role": "system", "content": "Answer from the events."}, {"role": "user", "content": "Why?"}]
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, json=body))
        try:
            return asyncio.run(chat.turn(messages, tools, SITE)), sink
        except Exception as exc:
            return exc, sink


def test_a_tool_call_on_the_turn_offered_none_is_no_answer() -> None:
    failure, sink = _turn(_called(None), [])
    assert isinstance(failure, LLMEmptyAnswer) and "called a tool instead of answering" in str(failure)
    [event] = sink.events
    assert event.type == "LLMCallFailed"
    assert LLMCallFailed.model_validate(event.payload).error_type == "LLMEmptyAnswer"


def test_the_text_beside_a_call_on_the_turn_offered_none_is_its_answer() -> None:
    turn, _ = _turn(_called("The pitch failed on a timeout (event 41)."), [])
    assert turn.calls == [] and turn.content == "The pitch failed on a timeout (event 41)."


def test_a_tool_call_on_a_turn_that_offered_tools_is_run() -> None:
    turn, sink = _turn(_called(None), TOOLS)
    assert [c.name for c in turn.calls] == ["events"] and sink.events[0].type == "LLMCallCompleted"


@pytest.mark.parametrize("content", [None, ""])
def test_asks_last_turn_never_prints_an_empty_answer(content: str | None) -> None:
    failure, _ = _turn(_called(content), [])
    assert isinstance(failure, LLMEmptyAnswer)
