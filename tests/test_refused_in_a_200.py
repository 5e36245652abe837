"""A rate limit or an overload inside a 200 generated nothing and bills nothing; an error after the provider began
answering (written content, an event stream) is billed, at its worst case when it reports no usage.

A 200 carrying `{"error": {"code": "rate_limit_exceeded"}}` and no usage was counted at its worst case, as any error
inside a 200 was ("cut off after the provider began answering: billed, cost unknown"), and took the run's budget.
HTTP mocked at the transport (respx)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from llmtrade.config.models import ModelRef, Price
from llmtrade.config.sections import BudgetConfig
from llmtrade.domain.events import LLMCallFailed
from llmtrade.errors import LLMUnavailable
from llmtrade.llm.budget import Budget
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.types import ChatMessage, ChatRequest
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache
from tests.fakes.llm_transport import BASE_URL, fake_llm

PRICE = Price(input_per_mtok=1000.0, output_per_mtok=1000.0)
REF = ModelRef(model="m/pm", provider="fake", max_tokens=50)
MESSAGES = (ChatMessage(role="user", content="Pitch."),)
RATE_LIMIT = {"error": {"code": "rate_limit_exceeded", "message": "Slow down."}}
OVERLOADED = {"error": {"type": "overloaded_error", "message": "Overloaded"}}
PARTIAL = {  # a rate limit on the choice after the model had written part of its answer
    "choices": [
        {
            "index": 0,
            "finish_reason": "error",
            "message": {"role": "assistant", "content": "The pitch is"},
            "error": {"code": 429, "message": "Rate limit exceeded"},
        }
    ]
}
STREAM = (
    'data: {"choices": [{"index": 0, "delta": {"content": ""}}]}\n\ndata: {"error": {"code": 429, "message": "x"}}\n\n'
)


async def _no_wait(seconds: float) -> None:
    return None


def _client() -> OpenAICompatibleClient:
    return OpenAICompatibleClient("fake", BASE_URL, "k", max_retries=1, sleep=_no_wait)


def _json(body: dict[str, Any]):  # type: ignore[no-untyped-def]
    return lambda request: httpx.Response(200, json=body)


def _stream(request: Any) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, text=STREAM)


def _failed(*answers: Any) -> LLMUnavailable:
    with fake_llm() as fake:
        fake.then(*answers)
        with pytest.raises(LLMUnavailable) as caught:
            asyncio.run(_client().send(ChatRequest(model="m/pm", messages=MESSAGES, max_tokens=50)))
    return caught.value


@pytest.mark.parametrize("body", [RATE_LIMIT, OVERLOADED], ids=["rate limit", "overload"])
def test_a_rate_limit_or_an_overload_inside_a_200_is_not_billed(body: dict[str, Any]) -> None:
    failed = _failed(_json(body), _json(body))
    assert failed.cut_off == 0 and failed.billed == ()  # type: ignore[attr-defined]
    assert "cut off after the provider began answering" not in str(failed)


def test_an_error_after_the_provider_began_answering_is_still_billed_at_its_worst_case() -> None:
    assert _failed(_json(PARTIAL), _json(PARTIAL)).cut_off == 2  # type: ignore[attr-defined]
    assert _failed(_stream, _stream).cut_off == 2  # type: ignore[attr-defined]
    # An upstream failure inside a 200 (no rate limit, no overload) keeps the rule: billed.
    upstream = {"error": {"code": 502, "message": "Upstream error"}}
    assert _failed(_json(upstream), _json(upstream)).cut_off == 2  # type: ignore[attr-defined]


def test_rate_limits_inside_a_200_take_none_of_the_runs_budget(storage: Storage) -> None:
    budget = Budget(BudgetConfig(per_run_usd=1000.0), {"m/pm": PRICE})
    gateway = LLMGateway(
        mode=LLMMode.LIVE,
        clients={"fake": _client()},
        prices={"m/pm": PRICE},
        events=storage.events,
        cache=AnswerCache(storage.conn),
        budget=budget,
    )
    with fake_llm() as fake:
        fake.then(_json(RATE_LIMIT), _json(RATE_LIMIT))

        async def go() -> None:
            with pytest.raises(LLMUnavailable):
                await gateway.ask_text(REF, MESSAGES, CallSite(role="pm_pitch", run_id="run-rl"), rules=lambda r: "x")
            await gateway.aclose()

        asyncio.run(go())
    assert len(fake.requests) == 2
    assert budget.run_spent == 0.0
    [stored] = storage.events.read(type="LLMCallFailed")
    failed = LLMCallFailed.from_event(stored)
    assert failed.cut_off_attempts == 0 and failed.cost_usd is None and not failed.billed
