"""Thinking tokens a usage leaves out of `completion_tokens` are counted all the same: in the cost and in reading a cut.

OpenAI counts reasoning inside completion_tokens (completion_tokens_details.reasoning_tokens is a part of it). Gemini
counts its thoughts apart (usageMetadata.thoughtsTokenCount beside candidatesTokenCount), and an OpenAI-shaped usage
carried over from it may put only the answer's tokens in completion_tokens while total_tokens holds all: "Gemini:
prompt=20, completion=424, total=1016" (Clarifai/clarifai-python#978); completion_tokens 0 beside reasoning_tokens 60
and total 81 (router-for-me/CLIProxyAPI#5733). Gemini bills thoughts as output, and they count toward its max output
tokens, so a cost priced on completion_tokens alone was short, and a turn cut at the limit (most of it thought) was
not seen as reaching it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from llmtrade.config.models import Price
from llmtrade.config.sections import BudgetConfig
from llmtrade.domain.events import LLMCallCompleted
from llmtrade.llm.budget import Budget
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.records import CallSite
from llmtrade.llm.replies import parse_usage
from llmtrade.llm.tool_chat import ToolChat
from llmtrade.llm.types import ChatMessage, ChatRequest
from llmtrade.reply_errors import LLMTruncated
from llmtrade.storage.bootstrap import Storage

BASE = "https://generativelanguage.test/v1beta/openai"
PRICE = Price(input_per_mtok=1000.0, output_per_mtok=1000.0)
SITE = CallSite(role="ask", run_id="run-think")
MESSAGES = [{"role": "user", "content": "Why did acct_3 exit on Thursday?"}]
TOOLS = [{"type": "function", "function": {"name": "events", "parameters": {"type": "object"}}}]


def _body(message: dict[str, Any], finish: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "x9",
        "object": "chat.completion",
        "model": "gemini-2.5-flash",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": usage,
    }


@pytest.mark.parametrize(
    ("usage", "completion"),
    [
        ({"prompt_tokens": 20, "completion_tokens": 424, "total_tokens": 1016}, 996),
        (
            {
                "prompt_tokens": 21,
                "completion_tokens": 0,
                "total_tokens": 81,
                "completion_tokens_details": {"reasoning_tokens": 60},
            },
            60,
        ),
        ({"prompt_tokens": 21, "completion_tokens": 5, "completion_tokens_details": {"reasoning_tokens": 60}}, 65),
        ({"prompt_tokens": 21, "completion_tokens": 5, "thoughts_token_count": 60}, 65),
        # OpenAI's: reasoning inside completion_tokens, the total their sum; counted once.
        (
            {
                "prompt_tokens": 10,
                "completion_tokens": 500,
                "total_tokens": 510,
                "completion_tokens_details": {"reasoning_tokens": 448},
            },
            500,
        ),
        ({"prompt_tokens": 10, "completion_tokens": 50, "completion_tokens_details": {"reasoning_tokens": 30}}, 50),
        ({"prompt_tokens": 10, "completion_tokens": 50, "total_tokens": 60}, 50),
        ({"prompt_tokens": 10, "completion_tokens": 50}, 50),
    ],
    ids=[
        "total past prompt and completion",
        "reasoning beside a completion of 0",
        "reasoning past the completion, no total",
        "gemini's own thoughts count",
        "openai's reasoning inside",
        "reasoning within the completion, no total",
        "a plain total",
        "no total",
    ],
)
def test_thinking_left_out_of_completion_tokens_is_counted(usage: dict[str, Any], completion: int) -> None:
    assert parse_usage({"usage": usage}).completion_tokens == completion


def test_the_committees_call_prices_the_thoughts() -> None:
    usage = {"prompt_tokens": 20, "completion_tokens": 424, "total_tokens": 1016}
    client = OpenAICompatibleClient("gemini", BASE, "key", max_retries=0)
    request = ChatRequest(
        model="gemini-2.5-flash", messages=(ChatMessage(role="user", content="Rank."),), max_tokens=2000
    )
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(
            return_value=httpx.Response(200, json=_body({"content": "SPY first."}, "stop", usage))
        )
        reply = asyncio.run(client.send(request))
    assert reply.usage.prompt_tokens == 20 and reply.usage.completion_tokens == 996


def _chat(storage: Storage, max_tokens: int, budget: Budget | None = None) -> ToolChat:
    return ToolChat(
        provider="gemini",
        base_url=BASE,
        api_key="key",
        model="gemini-2.5-flash",
        max_tokens=max_tokens,
        events=storage.events,
        price=PRICE,
        **({"budget": budget} if budget is not None else {}),
    )


def _turn(chat: ToolChat, body: dict[str, Any]) -> None:
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, json=body))
        asyncio.run(chat.turn(MESSAGES, TOOLS, SITE))


def test_asks_turn_is_billed_for_its_thoughts(storage: Storage) -> None:
    budget = Budget(BudgetConfig(per_run_usd=1000.0), {"gemini-2.5-flash": PRICE})
    usage = {"prompt_tokens": 20, "completion_tokens": 424, "total_tokens": 1016}
    _turn(_chat(storage, 2000, budget), _body({"content": "acct_3 hit its stop."}, "stop", usage))
    [done] = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    assert done.completion_tokens == 996
    assert done.cost_usd == pytest.approx(1.016)  # 1016 tokens at $1000 per million
    assert budget.run_spent == pytest.approx(1.016)


def test_a_tool_turn_whose_thoughts_reached_the_limit_is_cut(storage: Storage) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "events", "arguments": '{"account_id": "acct_3"'}}
    usage = {
        "prompt_tokens": 300,
        "completion_tokens": 9,
        "total_tokens": 364,
        "completion_tokens_details": {"reasoning_tokens": 55},
    }
    with pytest.raises(LLMTruncated, match="64 completion tokens of the 64 max_tokens"):
        _turn(_chat(storage, 64), _body({"content": None, "tool_calls": [call]}, "tool_calls", usage))
