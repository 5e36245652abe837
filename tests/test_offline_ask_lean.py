"""The offline ask's lean path (issue 13): each shortcut answers, keys and records what the long way did.

The rules' random draws are random.Random(the key's seed)'s, seeded only when drawn from; the request key's kept texts
are json.dumps' whatever the settings' types; a rule's answer is validated from its text (an invalid one is repaired
and refused, never taken); the checkpoint rules' reply text is the validated reply's dump; a free answer leaves the
model's totals as adding it did."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import random
from datetime import date, datetime
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from llmtrade.agents.checkpointer import answer_schema, reply_text
from llmtrade.config.models import ModelRef
from llmtrade.domain.checkpoints import CheckpointAnswer
from llmtrade.domain.events import LLMCallCompleted, NewEvent
from llmtrade.errors import InvalidLLMOutput
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.offline_path import _FIELDS, completed_event
from llmtrade.llm.records import FREE, UsageTotals
from llmtrade.llm.structured import strict_schema
from llmtrade.llm.types import ChatMessage, ChatRequest, Usage
from llmtrade.llm.wire import cache_key
from llmtrade.storage.bootstrap import Storage

SITE = CallSite(role="checkpoint", run_id="run-lean", account_id="acct_1")
SYSTEM = "You are the owner of this position. Say \u201cwhy\u201d.\n" * 5
MESSAGES = (ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content="Decide."))


class Pick(BaseModel):
    symbol: Literal["SPY", "TLT", "GLD"]
    conviction: int = Field(ge=-2, le=2)


def _gateway(storage: Storage) -> LLMGateway:
    return LLMGateway(mode=LLMMode.OFFLINE, clients={}, prices={}, events=storage.events, cache=None)


def _calls(storage: Storage) -> list[LLMCallCompleted]:
    return [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]


def _reference_key(request: ChatRequest) -> str:
    text = json.dumps(
        {
            "model": request.model,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "schema": request.json_schema,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_rules_draw_what_the_keys_seeded_random_draws(storage: Storage) -> None:
    drawn: list[object] = []

    def rules(rng: random.Random) -> Pick:
        values = (rng.random(), rng.choice(["SPY", "TLT", "GLD"]), rng.sample(range(100), 5))
        drawn.append(values)
        return Pick(symbol=values[1], conviction=1)

    ref = ModelRef(model="m/owner", temperature=0.2, max_tokens=900)
    asyncio.run(_gateway(storage).ask(ref, MESSAGES, SITE, output=Pick, rules=rules))
    (call,) = _calls(storage)
    seeded = random.Random(int(call.cache_key[:16], 16))
    assert drawn == [(seeded.random(), seeded.choice(["SPY", "TLT", "GLD"]), seeded.sample(range(100), 5))]


@pytest.mark.parametrize(
    ("temperature", "max_tokens"), [(0.7, 4000), (1, 4000), (1.0, 4000), (0.0, 50), (-0.0, 50), (2, 1), (True, 1)]
)
def test_the_request_key_is_json_dumps_whatever_the_settings_types(temperature: object, max_tokens: object) -> None:
    schema = strict_schema(answer_schema(2))
    for messages in (MESSAGES, MESSAGES[1:], (*MESSAGES, ChatMessage(role="assistant", content="{}"))):
        # model_construct: the types as given (1 and 1.0, 0.0 and -0.0, True and 1 are each one dict key).
        request = ChatRequest.model_construct(
            model="m/owner",
            messages=messages,
            temperature=temperature,
            max_tokens=max_tokens,
            schema_name="CheckpointDecision",
            json_schema=dict(schema),
        )
        assert cache_key(request) == _reference_key(request)
        assert cache_key(request) == _reference_key(request)  # again, from the kept texts


def test_a_system_prompt_text_kept_is_the_same_texts() -> None:
    # Equal text in another object, then a different text: each keyed as json.dumps writes it.
    for system in (SYSTEM, "".join(list(SYSTEM)), SYSTEM + "!", "plain"):
        request = ChatRequest(
            model="m", messages=(ChatMessage(role="system", content=system), MESSAGES[1]), json_schema=None
        )
        assert cache_key(request) == _reference_key(request)


def test_a_rules_answer_is_validated_from_its_text_and_an_invalid_one_refused(storage: Storage) -> None:
    ref = ModelRef(model="m/owner")
    good = asyncio.run(
        _gateway(storage).ask(ref, MESSAGES, SITE, output=Pick, rules=lambda rng: '{"symbol":"TLT","conviction":2}')
    )
    assert good.value == Pick(symbol="TLT", conviction=2)
    with pytest.raises(InvalidLLMOutput):  # outside the schema: repaired once (the rules answer it again), refused
        asyncio.run(
            _gateway(storage).ask(ref, MESSAGES, SITE, output=Pick, rules=lambda rng: '{"symbol":"QQQ","conviction":2}')
        )
    assert [(c.outcome, c.problem is not None) for c in _calls(storage)] == [
        ("ok", False),
        ("invalid", True),
        ("invalid", True),
    ]
    assert "symbol" in (_calls(storage)[1].problem or "")


@pytest.mark.parametrize("before", [2, 1, -1, -2])
def test_the_checkpoint_rules_reply_text_is_the_validated_replys_dump(before: int) -> None:
    side = 1 if before > 0 else -1
    moves = [("STAY", before), ("REDUCE", side), ("EXIT", 0), ("FLIP", -side), ("FLIP", -2 * side)]
    reasons = [
        "[offline rules] every watched indicator holds",
        'é — ü \n\t"\\ \x01\x1f\x7f \u2028 \U0001f600 </script>',
    ]
    schema = answer_schema(before)
    for action, after in moves:
        for reason in reasons:
            answer = CheckpointAnswer(action=action, conviction_after=after, reason_delta=reason)  # type: ignore[arg-type]
            reply = schema.model_validate(
                {"move": {"action": action, "conviction_after": after}, "reason_delta": reason}
            )
            assert reply_text(answer) == reply.model_dump_json()
            assert schema.model_validate_json(reply_text(answer)) == reply


def test_a_free_answer_leaves_the_totals_as_adding_it_did() -> None:
    def rebuilt(by_model: dict[str, Usage], model: str, usage: Usage) -> Usage:
        before = by_model.get(model, FREE)
        return Usage(
            prompt_tokens=before.prompt_tokens + usage.prompt_tokens,
            completion_tokens=before.completion_tokens + usage.completion_tokens,
            cost_usd=(before.cost_usd or 0.0) + (usage.cost_usd or 0.0),
        )

    totals = UsageTotals()
    steps = [FREE, FREE, Usage(prompt_tokens=3, completion_tokens=2, cost_usd=0.5), FREE, Usage(cost_usd=-0.0)]
    steps += [Usage(), FREE, Usage(prompt_tokens=1, cost_usd=None), FREE, Usage(cost_usd=-0.5), FREE]
    for usage in steps:
        expected = rebuilt(totals.by_model, "m", usage)
        totals.add("m", usage)
        got = totals.by_model["m"]
        assert (got.prompt_tokens, got.completion_tokens, repr(got.cost_usd)) == (
            expected.prompt_tokens,
            expected.completion_tokens,
            repr(expected.cost_usd),
        )
    assert totals.calls == len(steps)


def _values(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "role": "checkpoint",
        "provider": "rules",
        "model": "m/owner",
        "source": "rules",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Decide."}],
        "answer": '{"symbol":"TLT","conviction":2}',
        "schema_name": "Pick",
        "outcome": "ok",
        "problem": None,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": 0.0,
        "latency_ms": 0.0123,
        "attempts": 1,
        "cache_key": "ab" * 32,
        "reasoning": None,
        "think": None,
        "answer_from": "content",
        "response_mode": None,
        "finish_reason": None,
        "max_tokens": 4000,
        "note": None,
        "cost_counted_usd": None,
        "cut_off_attempts": 0,
    }
    return {**values, **changes}


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({}, {}),
        ({"source": "live", "provider": "fake", "cost_usd": None, "problem": "x: bad", "outcome": "repaired"}, {}),
        ({"reasoning": "because", "think": "hm", "response_mode": "json_object", "finish_reason": "stop"}, {}),
        ({"cost_usd": -0.0, "latency_ms": float("nan"), "max_tokens": None, "note": "repair \u2014 \n"}, {}),
        ({}, {"week_id": date(2016, 1, 6), "account_id": "acct_1"}),
        # Not of their fields' exact types: the model is built (and converts them) as before.
        ({"cost_usd": 0, "attempts": True, "latency_ms": 1}, {}),
        ({"messages": [{"content": "c", "role": "user"}]}, {}),
        ({}, {"week_id": datetime(2016, 1, 6, 9, 30)}),
    ],
)
def test_a_call_record_is_the_event_the_model_gives(changes: dict[str, object], where: dict[str, object]) -> None:
    values = _values(**changes)
    place = {"stream": "llm:run-lean", "week_id": None, "account_id": None, "run_id": "run-lean", **where}
    try:
        expected = NewEvent.of(LLMCallCompleted(**copy.deepcopy(values)), **place)  # type: ignore[arg-type]
    except ValueError:
        with pytest.raises(ValueError):
            completed_event(values, **place)  # type: ignore[arg-type]
        return
    got = completed_event(copy.deepcopy(values), **place)  # type: ignore[arg-type]
    assert got.model_dump_json() == expected.model_dump_json()
    assert list(got.payload) == list(expected.payload)
    assert (got.model_fields_set, got.__pydantic_extra__) == (expected.model_fields_set, expected.__pydantic_extra__)


def test_the_call_records_fields_are_the_models() -> None:
    assert [name for name, _ in _FIELDS] == list(LLMCallCompleted.model_fields)


def test_a_call_record_in_the_fields_order_takes_its_values_as_they_are() -> None:
    """completed_values' dict (fresh, in the fields' order, each value of its field's type) is the payload itself: no
    copy per call. In another order the payload is the fields' order (the model's dump), as before."""
    place = {"stream": "llm:run-lean", "week_id": None, "account_id": None, "run_id": "run-lean"}
    values = _values()
    assert list(values) == [name for name, _ in _FIELDS]
    expected = NewEvent.of(LLMCallCompleted(**copy.deepcopy(values)), **place)  # type: ignore[arg-type]
    got = completed_event(values, **place)  # type: ignore[arg-type]
    assert got.payload is values
    assert got.model_dump_json() == expected.model_dump_json()
    shuffled = dict(reversed(list(_values().items())))
    again = completed_event(shuffled, **place)  # type: ignore[arg-type]
    assert again.payload is not shuffled
    assert list(again.payload) == list(expected.payload)
    assert again.model_dump_json() == expected.model_dump_json()
