"""A provider that takes a strict `json_schema` response format and silently ignores it (Anthropic's
OpenAI-compatible endpoint lists `response_format` as "Ignored"; proxies and older local servers drop what they do not
know): the model never saw the schema, which goes only on the wire, so its answer and the repair, asked the same way,
missed it. A strict provider never lets an answer of the wrong shape through (not JSON, or not the schema's own fields
at its top: prose, or fields of its own), so such an answer is the evidence: the repair, and the provider's later
calls of the run, are asked in json_object mode with the schema in the prompt. An answer with the schema's fields that
breaks a bound (a text too long: some strict modes do not hold bounds) keeps its format."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import httpx
import pytest
import respx
from pydantic import BaseModel, Field, ValidationError

from llmtrade.config.models import ModelRef
from llmtrade.domain.events import LLMCallCompleted
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.structured import AnswerInvalid, format_ignored, parse_answer
from llmtrade.llm.types import ChatMessage, ResponseMode
from tests.fakes.sinks import ListSink

BASE = "http://claude.test/v1"
REF = ModelRef(model="claude-x", provider="anthropic", max_tokens=1000)
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
MESSAGES = (ChatMessage(role="system", content="Answer with a JSON object matching the schema."),)


class Pitch(BaseModel):
    instrument: Literal["SPY", "TLT"]
    thesis: str = Field(max_length=40)


VALID = json.dumps({"instrument": "SPY", "thesis": "rates ease"})


def _reply(content: str) -> httpx.Response:
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    return httpx.Response(200, json={"choices": [choice], "usage": {"prompt_tokens": 9, "completion_tokens": 9}})


async def _no_wait(seconds: float) -> None:
    return None


def _asks(answers: list[str], times: int) -> tuple[list[dict[str, Any]], list[LLMCallCompleted], list[Any]]:
    sink = ListSink()
    client = OpenAICompatibleClient("anthropic", BASE, "k", sleep=_no_wait)
    gateway = LLMGateway(mode=LLMMode.LIVE, clients={"anthropic": client}, prices={}, events=sink, cache=None)
    rules = lambda rng: Pitch(instrument="SPY", thesis="rules")  # noqa: E731 - never asked live

    async def run() -> list[Any]:
        try:
            return [await gateway.ask(REF, MESSAGES, SITE, output=Pitch, rules=rules) for _ in range(times)]
        finally:
            await gateway.aclose()

    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(side_effect=[_reply(a) for a in answers])
        answers_got = asyncio.run(run())
    sent = [json.loads(call.request.content) for call in route.calls]
    done = [LLMCallCompleted.from_event(e) for e in sink.events if e.type == "LLMCallCompleted"]
    return sent, done, answers_got


@pytest.mark.parametrize(
    "ignored",
    ["Here is my pitch: SPY, as rates ease.", json.dumps({"symbol": "SPY", "why": "rates ease"})],
    ids=["prose", "fields of its own"],
)
def test_an_answer_a_strict_format_would_not_let_through_asks_again_with_the_schema_in_the_prompt(
    ignored: str,
) -> None:
    sent, done, got = _asks([ignored, VALID, VALID], times=2)
    assert [a.value.instrument for a in got] == ["SPY", "SPY"] and got[0].repaired and not got[1].repaired
    assert sent[0]["response_format"]["type"] == "json_schema"
    for repair in sent[1:]:  # the repair and the next call: json_object, the schema said in the prompt
        assert repair["response_format"] == {"type": "json_object"}
        assert '"instrument"' in repair["messages"][-1]["content"], repair["messages"][-1]
    assert [(c.outcome, c.response_mode) for c in done] == [
        ("invalid", "json_schema"),
        ("repaired", "json_object"),
        ("ok", "json_object"),
    ]
    assert "ignored" in (done[1].note or ""), done[1].note


def test_an_answer_that_breaks_only_a_bound_keeps_its_strict_format() -> None:
    long = json.dumps({"instrument": "SPY", "thesis": "rates ease " * 10})
    sent, done, got = _asks([long, VALID], times=1)
    assert got[0].repaired
    assert [s["response_format"]["type"] for s in sent] == ["json_schema", "json_schema"]
    assert [(c.outcome, c.response_mode) for c in done] == [("invalid", "json_schema"), ("repaired", "json_schema")]


def test_a_weaker_mode_a_concurrent_call_stepped_down_to_is_kept() -> None:
    key = ("anthropic", "claude-x")
    try:
        Pitch.model_validate({"symbol": "SPY"})
    except ValidationError as exc:
        invalid = AnswerInvalid(str(exc), shape=True)
    modes: dict[tuple[str, str], ResponseMode] = {key: "text"}  # json_object refused meanwhile
    assert format_ignored(modes, key, "json_schema", invalid) is not None and modes == {key: "text"}
    modes = {}
    assert format_ignored(modes, key, "json_schema_core", invalid) is not None and modes == {key: "json_object"}
    assert format_ignored(modes, key, "json_object", invalid) is None  # the schema was in its prompt already
    assert format_ignored({}, key, "json_schema", AnswerInvalid("thesis too long", shape=False)) is None


class Hold(BaseModel):
    action: Literal["HOLD"]
    reason: str = Field(max_length=10)


class Exit(BaseModel):
    action: Literal["EXIT"]
    reason: str


class Checkpoint(BaseModel):
    move: Hold | Exit


def test_a_bound_broken_inside_a_union_is_not_taken_for_an_ignored_format() -> None:
    """A plain union's failure lists every member's errors: a HOLD whose reason is too long also fails EXIT's action
    literal. That is no evidence the format was ignored: the answer has the schema's fields."""
    with pytest.raises(AnswerInvalid) as raised:
        parse_answer(json.dumps({"move": {"action": "HOLD", "reason": "far too long a reason"}}), Checkpoint)
    assert raised.value.shape is False
    with pytest.raises(AnswerInvalid) as raised:
        parse_answer(json.dumps({"decision": "HOLD"}), Checkpoint)
    assert raised.value.shape is True
