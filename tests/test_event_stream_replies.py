"""A 200 sent as server-sent events though no stream was asked (some proxies and providers stream anyway) is
assembled into the reply (OpenAI's chat.completion.chunk format as OpenRouter sends it: llm_faults.streamed).

It was read as "a body that is not JSON": retried, every attempt billed at its worst case, then exit 75, for an
answer that had come whole."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, Literal

import httpx
import pytest
import respx
from pydantic import BaseModel, Field

from llmtrade.config.models import ModelRef
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.errors import LLMRequestRejected, LLMUnavailable
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.records import CallSite as AskSite
from llmtrade.llm.tool_chat import ToolChat
from llmtrade.llm.types import ChatMessage
from llmtrade.reply_errors import LLMTruncated
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache
from tests.fakes import llm_faults as f
from tests.fakes.llm_transport import BASE_URL, fake_llm

REF = ModelRef(model="m/pm", provider="fake", max_tokens=1000)
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
MESSAGES = (ChatMessage(role="system", content="You are a PM."), ChatMessage(role="user", content="Pitch."))
USAGE = {"prompt_tokens": 40, "completion_tokens": 25, "total_tokens": 65}


class Pitch(BaseModel):
    instrument: Literal["SPY", "TLT", "GLD"]
    conviction: int = Field(ge=-2, le=2)
    thesis: str


async def _no_wait(seconds: float) -> None:
    return None


def _gateway(storage: Storage) -> LLMGateway:
    client = OpenAICompatibleClient("fake", BASE_URL, "k", sleep=_no_wait)
    return LLMGateway(
        mode=LLMMode.LIVE, clients={"fake": client}, prices={}, events=storage.events, cache=AnswerCache(storage.conn)
    )


def _text(storage: Storage) -> Any:
    return asyncio.run(_gateway(storage).ask_text(REF, MESSAGES, SITE, rules=lambda rng: "rules"))


def _done(storage: Storage) -> list[LLMCallCompleted]:
    return [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]


def _failed(storage: Storage) -> list[LLMCallFailed]:
    return [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]


def test_a_streamed_free_text_answer_is_assembled_once_with_its_usage(storage: Storage) -> None:
    text = "Rates are falling; duration should help, so TLT over SPY this week."
    with fake_llm() as fake:
        fake.then(f.streamed(text, pieces=5, usage=USAGE))
        assert _text(storage).value == text
    assert len(fake.requests) == 1
    [done] = _done(storage)
    assert (done.prompt_tokens, done.completion_tokens, done.attempts) == (40, 25, 1)
    assert done.finish_reason == "stop" and _failed(storage) == []


def test_a_streamed_structured_answer_is_validated_whole(storage: Storage) -> None:
    def rules(rng: random.Random) -> Pitch:
        return Pitch(instrument="SPY", conviction=1, thesis="rules")

    with fake_llm() as fake:
        fake.then(f.streamed(pieces=7))
        answer = asyncio.run(_gateway(storage).ask(REF, MESSAGES, SITE, output=Pitch, rules=rules))
    assert isinstance(answer.value, Pitch) and not answer.repaired
    assert len(fake.requests) == 1


def test_a_stream_ended_at_max_tokens_is_a_truncation_not_an_answer(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.streamed("The outlook is", finish="length"))
        with pytest.raises(LLMTruncated):
            _text(storage)
    assert len(fake.requests) == 1


def test_a_stream_cut_off_before_its_end_is_retried_and_billed_not_taken_as_the_answer(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.streamed("Half an answ", finish=None, done=False), f.answer("Whole answer."))
        assert _text(storage).value == "Whole answer."
    assert len(fake.requests) == 2
    [done] = _done(storage)
    assert (done.attempts, done.cut_off_attempts) == (2, 1)  # the cut stream was generated: counted billed
    with fake_llm() as fake:
        fake.then(*(f.streamed("Half", finish=None, done=False) for _ in range(5)))
        with pytest.raises(LLMUnavailable, match="cut off before its end"):
            _text(storage)
    assert _failed(storage)[-1].billed


@pytest.mark.parametrize(("code", "kind", "requests"), [(400, LLMRequestRejected, 1), (502, None, 2)])
def test_an_error_mid_stream_is_judged_by_its_code(storage: Storage, code: int, kind: Any, requests: int) -> None:
    error = {"code": code, "message": "Provider returned error", "metadata": {"provider_name": "Chutes"}}
    with fake_llm() as fake:
        fake.then(f.streamed("The outlook", error=error))
        if kind is None:
            assert _text(storage).value  # retried within the call, then answered
        else:
            with pytest.raises(kind, match="Chutes"):
                _text(storage)
    assert len(fake.requests) == requests


def test_a_stream_whose_data_is_not_json_is_still_a_body_that_is_not_json(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(*(f.Fault(200, "data: {not json\n\n", {"content-type": "text/event-stream"}) for _ in range(5)))
        with pytest.raises(LLMUnavailable, match="not JSON"):
            _text(storage)


def test_asks_turn_assembles_a_streamed_tool_call(storage: Storage) -> None:
    chat = ToolChat(
        provider="openrouter",
        base_url="https://llm.test/v1",
        api_key="sk-test",
        model="m/ask",
        max_tokens=50,
        events=storage.events,
        price=None,
        timeout_seconds=5,
    )
    calls = [{"id": "call_1", "name": "positions", "arguments": json.dumps({"account": "acct_3", "week": "2026-W48"})}]
    fault = f.streamed("", finish="tool_calls", tool_calls=calls, usage=USAGE)({"model": "m/ask", "messages": []})
    with respx.mock() as mock:
        mock.post("https://llm.test/v1/chat/completions").mock(
            return_value=httpx.Response(200, content=fault.payload(), headers=fault.headers)
        )
        offered = [
            {"type": "function", "function": {"name": "events", "parameters": {"type": "object"}}}
        ]  # a call is an answer only to a turn that offered tools
        turn = asyncio.run(
            chat.turn([{"role": "user", "content": "why?"}], offered, AskSite(role="ask", run_id="run-ask"))
        )
    [call] = turn.calls
    assert (call.name, json.loads(call.arguments)) == ("positions", {"account": "acct_3", "week": "2026-W48"})
