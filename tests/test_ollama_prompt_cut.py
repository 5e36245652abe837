"""Ollama cuts a prompt past its context window (num_ctx) without an error: its OpenAI-compatible endpoint takes no
num_ctx, answers 200, and only its log says "truncating input prompt" limit=2048 prompt=3940 keep=5 new=2048
(ollama/ollama#3839, #10368); the counts it reports sit at the window (prompt and completion at 4096, or the prompt at
half a window plus 2: #17427, #17889). The answer to the cut prompt was taken as final. The fake answers as Ollama's
compat layer does (system_fingerprint "fp_ollama", usage from prompt_eval_count and eval_count), including its prompt
cache: a prefix kept from the last request is not counted, so a count far below the prompt's is no alarm."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from llmtrade.config.models import ModelRef
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.errors import TemporaryError
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.tool_chat import ToolChat
from llmtrade.llm.types import ChatMessage
from llmtrade.reply_errors import LLMContextExceeded, LLMTruncated
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache

BASE = "http://localhost:11434/v1"
REF = ModelRef(model="llama3.2", provider="ollama", max_tokens=500)
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
# About 20,000 bytes: at least 3,333 tokens by any tokenizer's count.
LONG = (ChatMessage(role="system", content="You are a PM."), ChatMessage(role="user", content="news: SPY up. " * 1430))


def _ollama(prompt_tokens: int, completion_tokens: int, finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-417",
        "object": "chat.completion",
        "created": 1760000000,
        "model": "llama3.2",
        "system_fingerprint": "fp_ollama",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hold SPY."}, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


async def _no_wait(seconds: float) -> None:
    return None


def _call(storage: Storage, *bodies: dict[str, Any], context: int | None = None) -> tuple[Any, int]:
    client = OpenAICompatibleClient("ollama", BASE, None, sleep=_no_wait, context_tokens=context)
    gateway = LLMGateway(
        mode=LLMMode.LIVE, clients={"ollama": client}, prices={}, events=storage.events, cache=AnswerCache(storage.conn)
    )
    with respx.mock() as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(side_effect=[httpx.Response(200, json=b) for b in bodies])
        try:
            return asyncio.run(gateway.ask_text(REF, LONG, SITE, rules=lambda rng: "rules")), route.call_count
        except Exception as exc:
            return exc, route.call_count


def _failed(storage: Storage) -> list[LLMCallFailed]:
    return [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]


@pytest.mark.parametrize(
    ("prompt", "completion"),
    [(2048, 40), (3000, 1096), (2050, 40)],
    ids=["prompt at the window", "prompt and answer fill it", "half a window plus 2"],
)
def test_an_answer_to_a_prompt_ollama_cut_is_refused_saying_why(storage: Storage, prompt: int, completion: int) -> None:
    failure, sent = _call(storage, _ollama(prompt, completion), _ollama(30, 5))
    assert sent == 1 and isinstance(failure, LLMContextExceeded) and not isinstance(failure, TemporaryError)
    said = str(failure)
    assert "cut to fit its context window" in said and "OLLAMA_CONTEXT_LENGTH" in said and "context_tokens" in said
    [failed] = _failed(storage)
    assert failed.error_type == "LLMContextExceeded" and failed.answer == "Hold SPY." and failed.billed


def test_a_count_lowered_by_ollamas_prompt_cache_is_no_alarm(storage: Storage) -> None:
    answer, sent = _call(storage, _ollama(37, 5))  # the rest of the prompt came from the cache: not counted
    assert sent == 1 and answer.value == "Hold SPY." and _failed(storage) == []
    [done] = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    assert done.prompt_tokens == 37


def test_a_configured_window_the_prompt_passes_refuses_whatever_the_count(storage: Storage) -> None:
    failure, sent = _call(storage, _ollama(37, 5), context=2048)
    assert sent == 1 and isinstance(failure, LLMContextExceeded)
    assert "at least 3" in str(failure) and "2048-token context window" in str(failure)


def test_a_configured_window_filled_while_answering_is_no_truncation_to_repair(storage: Storage) -> None:
    """The window filled as the answer was written (Ollama shifts the prompt's start out then): "length" was
    LLMTruncated, repaired with twice the max_tokens, which fills it sooner."""
    failure, sent = _call(storage, _ollama(3900, 196, finish="length"), _ollama(30, 5), context=4096)
    assert sent == 1 and isinstance(failure, LLMContextExceeded)
    assert "reach the 4096-token context window" in str(failure)


def test_a_configured_window_the_call_fits_in_is_taken(storage: Storage) -> None:
    answer, _ = _call(storage, _ollama(3900, 5), context=32768)
    assert answer.value == "Hold SPY."


def _ask_turn(
    storage: Storage, body: dict[str, Any], context: int | None = None, tools: list[dict[str, Any]] | None = None
) -> Any:
    chat = ToolChat(
        provider="ollama",
        base_url=BASE,
        api_key=None,
        model="llama3.2",
        max_tokens=200,
        events=storage.events,
        price=None,
        context_tokens=context,
    )
    messages = [{"role": "system", "content": "Answer from the events."}, {"role": "user", "content": LONG[1].content}]
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, json=body))
        return asyncio.run(chat.turn(messages, tools or [], SITE))


def test_asks_turn_refuses_an_answer_to_a_conversation_ollama_cut(storage: Storage) -> None:
    with pytest.raises(LLMContextExceeded, match="cut to fit"):
        _ask_turn(storage, _ollama(2048, 40))
    with pytest.raises(LLMContextExceeded, match="2048-token context window"):
        _ask_turn(storage, _ollama(37, 5), context=2048)
    assert _ask_turn(storage, _ollama(37, 5)).content == "Hold SPY."  # a cached prefix, not a cut


TOOLS = [{"type": "function", "function": {"name": "events", "parameters": {"type": "object"}}}]


def _ollama_tool_call(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """Ollama's OpenAI-compatible answer calling a tool: empty content, the call, finish_reason "tool_calls"."""
    body = _ollama(prompt_tokens, completion_tokens, finish="tool_calls")
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_k3x9wq1e",
                "index": 0,
                "type": "function",
                "function": {"name": "events", "arguments": '{"type":"PitchSubmitted"}'},
            }
        ],
    }
    return body


def test_asks_tool_call_turn_to_a_conversation_ollama_cut_is_refused_not_run(storage: Storage) -> None:
    """A tool call made on what was left of a conversation Ollama cut (its start, the system prompt and the tools
    first, shifted out) is no more the model's answer than a text would be: its tool is not run on it."""
    with pytest.raises(LLMContextExceeded, match="cut to fit") as cut:
        _ask_turn(storage, _ollama_tool_call(2048, 18), tools=TOOLS)
    assert "OLLAMA_CONTEXT_LENGTH" in str(cut.value)
    with pytest.raises(LLMContextExceeded, match="2048-token context window"):
        _ask_turn(storage, _ollama_tool_call(37, 18), context=2048, tools=TOOLS)
    assert [c.name for c in _ask_turn(storage, _ollama_tool_call(37, 18), tools=TOOLS).calls] == [
        "events"
    ]  # a cached prefix
    failed = _failed(storage)
    assert [f.error_type for f in failed] == ["LLMContextExceeded", "LLMContextExceeded"]


def test_asks_turn_cut_as_the_window_filled_is_no_truncation_to_raise_max_tokens_for(storage: Storage) -> None:
    """Ollama cut at the window while answering says finish_reason "length", as a max_tokens cut does: the gateway
    refuses it as the window (LLMContextExceeded, naming it); `ask` said "raise max_tokens", which fills it sooner."""
    with pytest.raises(LLMContextExceeded, match="reach the 4096-token context window"):
        _ask_turn(storage, _ollama(3900, 196, finish="length"), context=4096)
    with pytest.raises(LLMContextExceeded, match="cut to fit"):
        _ask_turn(storage, _ollama(3000, 1096, finish="length"))  # unconfigured: Ollama's counts at a 4096 window
    with pytest.raises(LLMTruncated):  # a max_tokens cut within the window stays one
        _ask_turn(storage, _ollama(3000, 200, finish="length"), context=32768)
