"""A tool-call turn cut at max_tokens that says "tool_calls" and reports its usage short of the limit, or none at all.

vLLM says "tool_calls" whenever its parser found a call, whatever stopped the generation (vllm-project/vllm#58228: the
length stop hidden, told apart only by completion_tokens against max_tokens); routers rewrite "length" to
"tool_calls" too (NousResearch/hermes-agent#7693), and a deployment that hides usage leaves nothing but the arguments,
which end unclosed ("Unterminated string": MiaAI-Lab/DeepSeek-v4-Flash-DSpark-2x-DGX-Spark#55). Such a turn was sent
back to the model as "arguments are not JSON", its mistake, when the evidence said it was cut. Where nothing tells a
cut from a malformed call (no usage, and text far short of the limit: a model thinking out of sight spends the rest),
the call is still sent back, and the turn's event says so."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.llm.records import CallSite
from llmtrade.llm.tool_chat import ToolChat, Turn
from llmtrade.reply_errors import LLMTruncated
from llmtrade.storage.bootstrap import Storage

BASE = "http://vllm.test/v1"
SITE = CallSite(role="ask", run_id="run-cut-unsaid")
MESSAGES = [{"role": "user", "content": "Why did acct_3 exit on Thursday?"}]
TOOLS = [{"type": "function", "function": {"name": "events", "parameters": {"type": "object"}}}]
SHORT_CUT = '{"account_id": "acct_3", "types": ["OrderFil'
# A cut as long as the limit: 64 max_tokens of JSON are some 200 bytes, past what 64 tokens of any tokenizer hold short.
LONG_CUT = '{"account_id": "acct_3", "question": "' + "why did the stop move " * 12


def _body(arguments: str, finish: str | None, usage: dict[str, int] | None) -> dict[str, Any]:
    call = {"id": "chatcmpl-tool-1", "type": "function", "function": {"name": "events", "arguments": arguments}}
    message = {"role": "assistant", "content": None, "reasoning_content": None, "tool_calls": [call]}
    body: dict[str, Any] = {
        "id": "chatcmpl-9",
        "object": "chat.completion",
        "model": "Qwen/Qwen3-8B",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "stop_reason": None}],
    }
    if usage is not None:
        body["usage"] = {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}
    return body


def _turn(storage: Storage, body: dict[str, Any], max_tokens: int) -> Turn:
    chat = ToolChat(
        provider="vllm",
        base_url=BASE,
        api_key=None,
        model="m",
        max_tokens=max_tokens,
        events=storage.events,
        price=None,
    )
    with respx.mock() as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, json=body))
        try:
            return asyncio.run(chat.turn(MESSAGES, TOOLS, SITE))
        finally:
            assert route.call_count == 1


def test_unclosed_arguments_with_no_usage_and_text_that_fills_the_limit_are_a_cut(storage: Storage) -> None:
    with pytest.raises(LLMTruncated) as cut:
        _turn(storage, _body(LONG_CUT, "tool_calls", None), max_tokens=64)
    said = str(cut.value)
    assert "cut off at max_tokens in a tool-call turn" in said and "no usage reported" in said
    assert "end unclosed" in said and "max_tokens in models.yaml" in said
    assert storage.events.read(type="LLMCallCompleted") == []
    [failed] = [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]
    assert failed.error_type == "LLMTruncated" and failed.billed and failed.completion_tokens == 0


@pytest.mark.parametrize("completion", [63, 64], ids=["one token short", "at the limit"])
def test_unclosed_arguments_at_or_near_the_limit_are_a_cut(storage: Storage, completion: int) -> None:
    with pytest.raises(LLMTruncated, match=f"{completion} completion tokens of the 64 max_tokens"):
        _turn(storage, _body(SHORT_CUT, "tool_calls", {"prompt_tokens": 300, "completion_tokens": completion}), 64)


def test_unclosed_arguments_well_under_the_limit_are_the_models_mistake(storage: Storage) -> None:
    usage = {"prompt_tokens": 300, "completion_tokens": 18}
    turn = _turn(storage, _body(SHORT_CUT, "tool_calls", usage), max_tokens=4096)
    assert [c.arguments for c in turn.calls] == [SHORT_CUT]  # sent back to the model: its usage says no cut
    [done] = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    assert "cannot be told" not in (done.note or "")


def test_unclosed_arguments_with_no_usage_and_short_text_are_sent_back_saying_so(storage: Storage) -> None:
    turn = _turn(storage, _body(SHORT_CUT, "tool_calls", None), max_tokens=4096)
    assert [c.arguments for c in turn.calls] == [SHORT_CUT]
    [done] = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    note = done.note or ""
    assert "events" in note and "end unclosed" in note and "no usage" in note
    assert "cannot be told from a malformed call" in note and "4096 max_tokens" in note


def test_closed_but_malformed_arguments_with_no_usage_carry_no_doubt(storage: Storage) -> None:
    turn = _turn(storage, _body("{'account_id': 'acct_3'}", "tool_calls", None), max_tokens=4096)
    assert turn.calls[0].arguments == "{'account_id': 'acct_3'}"
    [done] = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    assert "unclosed" not in (done.note or "")


@pytest.mark.parametrize(
    ("arguments", "cut"),
    [
        (SHORT_CUT, True),
        ('{"q": "say \\"hi', True),
        ('{"q": "a\\', True),
        ('{"a": [1, 2', True),
        ('{"a": tru', True),
        ('{"q": "say \\"hi\\" {"}', False),
        ('{"a": 1,}', False),
        ('{"a": 1]}', False),
        ("{'a': 1}", False),
        ("", False),
        ("  ", False),
    ],
)
def test_unclosed_reads_a_cut_json_text(arguments: str, cut: bool) -> None:
    from llmtrade.llm.usable_reply import unclosed  # here: the turns above fail on their own before it existed

    assert unclosed(arguments) is cut
