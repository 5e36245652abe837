"""`llmtrade ask`'s tool-calling turn (llm/tool_chat.py) counts what it was billed as the gateway does: a reply
without usage, a 200 whose body is not JSON or carries no message, at the worst case held (never $0), and a turn
cancelled while it waits gives its hold back. Found beside review G's fixes of the gateway, which it shared none of."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest
import respx

from llmtrade.config.models import Price
from llmtrade.config.sections import BudgetConfig
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.errors import LLMAuthRejected, LLMNoEndpoint, LLMOutOfCredits, LLMRateLimited, LLMUnavailable
from llmtrade.llm.budget import Budget
from llmtrade.llm.records import CallSite
from llmtrade.llm.tool_chat import ToolChat
from llmtrade.reply_errors import LLMUpstreamError
from llmtrade.storage.bootstrap import Storage

BASE = "https://llm.test/v1"
PRICE = Price(input_per_mtok=1000.0, output_per_mtok=1000.0)
SITE = CallSite(role="ask", run_id="run-ask")
MESSAGES = [{"role": "user", "content": "What did acct_1 hold?"}]


def _chat(storage: Storage, budget: Budget) -> ToolChat:
    return ToolChat(
        provider="openrouter",
        base_url=BASE,
        api_key="sk-test",
        model="m/ask",
        max_tokens=50,
        events=storage.events,
        price=PRICE,
        budget=budget,
        timeout_seconds=5,
    )


def _budget() -> Budget:
    return Budget(BudgetConfig(per_run_usd=1000.0), {"m/ask": PRICE})


def _turn(chat: ToolChat, answer: httpx.Response) -> None:
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=answer)
        asyncio.run(chat.turn(MESSAGES, [], SITE))


def test_a_reply_without_usage_counts_at_its_worst_case_not_zero(storage: Storage) -> None:
    budget = _budget()
    reply = {"choices": [{"message": {"role": "assistant", "content": "SPY."}, "finish_reason": "stop"}]}
    _turn(_chat(storage, budget), httpx.Response(200, json=reply))
    [stored] = storage.events.read(type="LLMCallCompleted")
    done = LLMCallCompleted.from_event(stored)
    assert budget.run_spent > 0 and budget.reserved == 0.0
    assert done.cost_usd is None and done.cost_counted_usd == pytest.approx(budget.run_spent)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(200, text="<html>gateway hiccup</html>"), LLMUnavailable),
        # No choices at all: read as the gateway reads it (tests/test_compat_layers.py), an upstream failure. (An empty
        # `choices` is asked once more: tests/test_gemini_blocked_no_choice.py.)
        (httpx.Response(200, json={"object": "chat.completion"}), LLMUpstreamError),
        # An upstream 502 relayed inside the 200: temporary, judged by its code (tests/test_ask_replies.py).
        (httpx.Response(200, json={"error": {"code": 502, "message": "upstream died"}}), LLMUnavailable),
    ],
    ids=["not json", "no message", "error 502"],
)
def test_a_200_that_cannot_be_read_is_billed_at_its_worst_case(
    storage: Storage, answer: httpx.Response, error: type[Exception]
) -> None:
    budget = _budget()
    with pytest.raises(error):
        _turn(_chat(storage, budget), answer)
    [stored] = storage.events.read(type="LLMCallFailed")
    failed = LLMCallFailed.from_event(stored)
    assert budget.run_spent > 0 and budget.reserved == 0.0
    assert failed.billed and failed.cost_counted_usd == pytest.approx(budget.run_spent)


def test_a_200_with_an_error_and_its_usage_is_billed_at_that_usage(storage: Storage) -> None:
    budget = _budget()
    body = {"error": {"code": 502, "message": "upstream died"}, "usage": {"prompt_tokens": 10, "completion_tokens": 40}}
    with pytest.raises(LLMUnavailable, match="upstream died"):
        _turn(_chat(storage, budget), httpx.Response(200, json=body))
    assert budget.run_spent == pytest.approx(0.05)  # 50 tokens at $1000 per million


def test_a_turn_cancelled_while_it_waits_gives_its_hold_back(storage: Storage) -> None:
    budget = _budget()
    chat = _chat(storage, budget)

    async def go() -> None:
        with respx.mock(assert_all_called=False) as mock:

            async def hang(request: httpx.Request) -> httpx.Response:
                await asyncio.sleep(30)
                return httpx.Response(500)

            mock.post(f"{BASE}/chat/completions").mock(side_effect=hang)
            task = asyncio.create_task(chat.turn(MESSAGES, [], SITE))
            await asyncio.sleep(0.2)
            assert budget.reserved > 0  # the turn holds its worst case while it waits
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(go())
    assert budget.reserved == 0.0


@pytest.mark.parametrize(
    ("answer", "kind", "said"),
    [
        (httpx.Response(402, json={"error": {"message": "Insufficient credits"}}), LLMOutOfCredits, "add credits"),
        (httpx.Response(401, json={"error": {"message": "No auth credentials found"}}), LLMAuthRejected, "API key"),
        (httpx.Response(404, json={"error": {"message": "No endpoints found"}}), LLMNoEndpoint, "model's name"),
        (httpx.Response(429, json={"error": {"message": "free-models-per-day"}}), LLMRateLimited, "quota"),
        (httpx.Response(503, json={"error": {"message": "overloaded"}}), LLMUnavailable, "overloaded"),
    ],
    ids=["402", "401", "404", "429-quota", "503"],
)
def test_a_refused_turn_is_read_as_the_gateway_reads_it(
    storage: Storage, answer: httpx.Response, kind: type[Exception], said: str
) -> None:
    """ask's turn called a 402 a rejected request (exit 1, 'refused'), not out of credits (exit 75, 'add credits'), and
    a 401 was not told apart as the key, a 503 lost its reason (review of 61874c7): it reads a status as the chat client
    does now."""
    with pytest.raises(Exception) as raised:
        _turn(_chat(storage, _budget()), answer)
    assert type(raised.value) is kind, raised.value
    assert said in str(raised.value), raised.value
    failed = storage.events.read(type=LLMCallFailed.event_type())
    assert failed and failed[-1].payload["error_type"] == kind.__name__
