"""A tool-call turn cut at max_tokens is a truncation, whatever its stop says: its calls are never run, nor their cut
arguments sent back to the model as "arguments are not JSON", its mistake.

Shapes as servers send them: OpenAI's tool_calls with arguments a JSON string; a server that says "stop" where the
limit cut (mudler/LocalAI#3533); Ollama's /v1, which says "tool_calls" whenever it parsed a call, whatever its
done_reason (ollama/ollama#5995: the tool-call reason set over the run's own); Anthropic's stop_reason max_tokens as
OpenRouter relays it (native_finish_reason); Gemini's MALFORMED_FUNCTION_CALL, passed on as the finish reason by
Google's OpenAI-compatible endpoint (googleapis/python-aiplatform#4472: large arguments cut)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from llmtrade.domain.events import LLMCallFailed
from llmtrade.llm.records import CallSite
from llmtrade.llm.tool_chat import ToolChat, Turn
from llmtrade.reply_errors import LLMTruncated, LLMUpstreamError
from llmtrade.storage.bootstrap import Storage

BASE = "http://llm.test/v1"
SITE = CallSite(role="ask", run_id="run-cut")
MESSAGES = [{"role": "user", "content": "Why did acct_3 exit on Thursday?"}]
TOOLS = [{"type": "function", "function": {"name": "events", "parameters": {"type": "object"}}}]
MAX = 64
CUT = '{"account_id": "acct_3", "types": ["OrderFil'


def _body(message: dict[str, Any], finish: str | None, completion: int, **choice: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-7",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish, **choice}],
        "usage": {"prompt_tokens": 300, "completion_tokens": completion, "total_tokens": 300 + completion},
    }


def _call(arguments: str, call_id: str = "call_1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": "events", "arguments": arguments}}


def _turn(storage: Storage, body: dict[str, Any]) -> Turn:
    chat = ToolChat(
        provider="llm", base_url=BASE, api_key=None, model="m", max_tokens=MAX, events=storage.events, price=None
    )
    with respx.mock() as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, json=body))
        try:
            return asyncio.run(chat.turn(MESSAGES, TOOLS, SITE))
        finally:
            assert route.call_count == 1


CUT_TURNS = {
    "openai tool_calls at the limit": _body({"content": None, "tool_calls": [_call(CUT)]}, "tool_calls", MAX),
    "a stop at the limit": _body({"content": None, "tool_calls": [_call(CUT)]}, "stop", MAX),
    "no finish_reason at the limit": _body({"content": None, "tool_calls": [_call(CUT)]}, None, MAX),
    "ollama tool_calls over done_reason length": _body(
        {"content": "", "tool_calls": [{**_call(CUT, "call_a1b2c3"), "index": 0}]}, "tool_calls", MAX
    )
    | {"model": "qwen3:8b", "system_fingerprint": "fp_ollama"},
    "anthropic tool_use cut, relayed by openrouter": _body(
        {"content": "", "tool_calls": [_call(CUT, "toolu_01")]}, "tool_calls", 40, native_finish_reason="max_tokens"
    ),
    "gemini MALFORMED_FUNCTION_CALL at the limit": _body({"content": None}, "MALFORMED_FUNCTION_CALL", MAX),
}


@pytest.mark.parametrize("body", CUT_TURNS.values(), ids=CUT_TURNS.keys())
def test_a_tool_call_turn_cut_at_max_tokens_is_a_truncation(storage: Storage, body: dict[str, Any]) -> None:
    with pytest.raises(LLMTruncated) as cut:
        _turn(storage, body)
    said = str(cut.value)
    assert "cut off at max_tokens in a tool-call turn" in said and "max_tokens in models.yaml" in said
    assert storage.events.read(type="LLMCallCompleted") == []
    [failed] = [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]
    assert failed.error_type == "LLMTruncated" and failed.billed
    assert failed.completion_tokens == body["usage"]["completion_tokens"]


def test_a_tool_call_under_the_limit_is_run(storage: Storage) -> None:
    body = _body({"content": None, "tool_calls": [_call('{"account_id": "acct_3"}')]}, "tool_calls", MAX - 1)
    turn = _turn(storage, body)
    assert [(c.name, c.arguments) for c in turn.calls] == [("events", '{"account_id": "acct_3"}')]


def test_geminis_malformed_call_under_the_limit_stays_an_upstream_failure(storage: Storage) -> None:
    with pytest.raises(LLMUpstreamError):
        _turn(storage, _body({"content": None}, "MALFORMED_FUNCTION_CALL", 12))
