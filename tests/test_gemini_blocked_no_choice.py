"""A prompt Gemini's safety filter blocked, through Google's OpenAI-compatible endpoint: the promptFeedback that names
the block is not passed on, and the 200 carries an empty `choices` (Gemini's contract: "no candidates are returned
only if there was something wrong with the prompt"). It read as an upstream failure, temporary: asked again, then
exit 75 on every rerun. Now asked once more, then a final refusal for that prompt saying why (respx at the
transport)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from llmtrade.config.models import ModelRef
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.errors import OperationalError, TemporaryError
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.tool_chat import ToolChat
from llmtrade.llm.types import ChatMessage
from llmtrade.reply_errors import LLMContentFiltered, LLMUpstreamError
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache

BASE = "https://generativelanguage.googleapis.com/v1beta/openai"
REF = ModelRef(model="gemini-2.5-flash", provider="gemini", max_tokens=1000)
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
MESSAGES = (ChatMessage(role="system", content="You are a PM."), ChatMessage(role="user", content="Pitch."))

BLOCKED: dict[str, Any] = {
    "object": "chat.completion",
    "created": 1760000000,
    "model": "gemini-2.5-flash",
    "choices": [],
    "usage": {"prompt_tokens": 812, "completion_tokens": 0, "total_tokens": 812},
}
ANSWER: dict[str, Any] = {
    "object": "chat.completion",
    "model": "gemini-2.5-flash",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hold SPY."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 812, "completion_tokens": 4, "total_tokens": 816},
}


async def _no_wait(seconds: float) -> None:
    return None


def _committee_call(storage: Storage, *answers: dict[str, Any]) -> tuple[Any, int]:
    client = OpenAICompatibleClient("gemini", BASE, "k", sleep=_no_wait)
    gateway = LLMGateway(
        mode=LLMMode.LIVE, clients={"gemini": client}, prices={}, events=storage.events, cache=AnswerCache(storage.conn)
    )
    with respx.mock() as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(side_effect=[httpx.Response(200, json=a) for a in answers])
        try:
            return asyncio.run(gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "rules")), route.call_count
        except Exception as exc:
            return exc, route.call_count


def _events(storage: Storage, kind: type) -> list:
    return [kind.from_event(e) for e in storage.events.read(type=kind.event_type())]


def test_a_blocked_prompt_is_asked_once_more_then_refused_for_good_saying_why(storage: Storage) -> None:
    failure, sent = _committee_call(storage, BLOCKED, BLOCKED, ANSWER)
    assert sent == 2
    assert isinstance(failure, LLMContentFiltered) and isinstance(failure, OperationalError)
    assert not isinstance(failure, TemporaryError)
    said = str(failure)
    assert "no choice" in said and "blocked" in said and "promptFeedback" in said
    [failed] = _events(storage, LLMCallFailed)
    assert (
        failed.error_type == "LLMContentFiltered" and failed.billed and failed.prompt_tokens == 2 * 812
    )  # both billed


def test_one_reply_with_no_choice_then_an_answer_is_taken(storage: Storage) -> None:
    answer, sent = _committee_call(storage, BLOCKED, ANSWER)
    assert sent == 2 and answer.value == "Hold SPY."
    [done] = _events(storage, LLMCallCompleted)
    assert done.attempts == 2 and "no choice" in (done.note or "")
    assert _events(storage, LLMCallFailed) == []


def test_no_choice_after_the_model_wrote_tokens_is_no_block(storage: Storage) -> None:
    """A proxy that dropped a candidate the model wrote into (a thinking model out of max_tokens) is no blocked
    prompt: an upstream failure, asked again within the call as before."""
    wrote = {**BLOCKED, "usage": {"prompt_tokens": 812, "completion_tokens": 999, "total_tokens": 1811}}
    answer, sent = _committee_call(storage, wrote, wrote, ANSWER)
    assert sent == 3 and answer.value == "Hold SPY."


def _ask_turn(storage: Storage, *answers: dict[str, Any]) -> Any:
    chat = ToolChat(
        provider="gemini",
        base_url=BASE,
        api_key="k",
        model="gemini-2.5-flash",
        max_tokens=200,
        events=storage.events,
        price=None,
        timeout_seconds=5,
    )
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(side_effect=[httpx.Response(200, json=a) for a in answers])
        return asyncio.run(chat.turn([{"role": "user", "content": "Why did acct_3 exit?"}], [], SITE))


def test_asks_turn_refuses_a_blocked_prompt_for_good_after_asking_once_more(storage: Storage) -> None:
    with pytest.raises(LLMContentFiltered, match="no choice") as caught:
        _ask_turn(storage, BLOCKED, BLOCKED)
    assert not isinstance(caught.value, LLMUpstreamError)
    assert [f.error_type for f in _events(storage, LLMCallFailed)] == ["LLMNoChoice", "LLMContentFiltered"]
    assert _ask_turn(storage, BLOCKED, ANSWER).content == "Hold SPY."
