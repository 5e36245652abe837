"""The LLM gateway against a real event store: validation, repair, recording, cache, replay, offline."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel, Field

from llmtrade.config.models import ModelRef, Price
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.errors import InvalidLLMOutput, LLMRequestRejected, ReplayMiss
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.types import ChatMessage
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache
from tests.fakes.llm_transport import BASE_URL, fake_llm

REF = ModelRef(model="m/pm", provider="fake")
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
MESSAGES = (ChatMessage(role="system", content="You are a PM."), ChatMessage(role="user", content="Pitch."))


class PitchLike(BaseModel):
    """Shaped like a pitch: an instrument enum and a bounded conviction."""

    instrument: Literal["SPY", "TLT", "GLD"]
    direction: Literal["LONG", "SHORT", "FLAT"]
    conviction: int = Field(ge=-2, le=2)


VALID = json.dumps({"instrument": "TLT", "direction": "LONG", "conviction": 2})


async def _no_sleep(_: float) -> None:
    return None


def _gateway(storage: Storage, mode: LLMMode = LLMMode.LIVE) -> LLMGateway:
    client = OpenAICompatibleClient("fake", BASE_URL, "k", sleep=_no_sleep)
    return LLMGateway(
        mode=mode,
        clients={"fake": client},
        prices={"m/pm": Price(input_per_mtok=1.0, output_per_mtok=2.0)},
        events=storage.events,
        cache=AnswerCache(storage.conn),
    )


def _rules(rng: random.Random) -> PitchLike:
    return PitchLike(instrument=rng.choice(["SPY", "TLT", "GLD"]), direction="LONG", conviction=1)


def _calls(storage: Storage) -> list[LLMCallCompleted]:
    return [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]


def test_independent_calls_run_concurrently(storage: Storage) -> None:
    gateway = _gateway(storage)

    async def ask_all() -> list[str]:
        sites = [CallSite(role="council_answer", run_id="run-1", account_id=f"acct_{i}") for i in range(5)]
        answers = await asyncio.gather(*(gateway.ask_text(REF, MESSAGES, s, rules=lambda r: "x") for s in sites))
        return [a.value for a in answers]

    with fake_llm(delay=0.05) as fake:
        answers = asyncio.run(ask_all())
    assert len(answers) == 5
    assert fake.peak_in_flight == 5  # all five were in flight at once: one delay, not five


def test_a_valid_answer_is_recorded_with_tokens_cost_latency_and_outcome(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(VALID)
        answer = asyncio.run(_gateway(storage).ask(REF, MESSAGES, SITE, output=PitchLike, rules=_rules))
    assert answer.value == PitchLike(instrument="TLT", direction="LONG", conviction=2)
    [call] = _calls(storage)
    assert (call.role, call.model, call.provider, call.source, call.outcome) == (
        "pm_pitch",
        "m/pm",
        "fake",
        "live",
        "ok",
    )
    assert call.messages == [m.model_dump() for m in MESSAGES]
    assert call.answer == VALID and call.schema_name == "PitchLike"
    assert call.prompt_tokens > 0 and call.completion_tokens > 0
    expected = (call.prompt_tokens * 1.0 + call.completion_tokens * 2.0) / 1e6  # from models.yaml prices
    assert call.cost_usd == pytest.approx(expected)
    assert call.attempts == 1 and call.latency_ms >= 0
    [event] = storage.events.read(type="LLMCallCompleted")
    assert (event.run_id, event.account_id, event.stream) == ("run-1", "acct_1", "llm:run-1")


def test_invalid_json_is_repaired_once_with_the_error_shown(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then("Sure! Here is my pitch: TLT long", VALID)
        answer = asyncio.run(_gateway(storage).ask(REF, MESSAGES, SITE, output=PitchLike, rules=_rules))
    assert answer.repaired and answer.value.instrument == "TLT"
    repair_turn = fake.requests[1]["messages"]
    assert repair_turn[-3] == {"role": "assistant", "content": "Sure! Here is my pitch: TLT long"}
    assert "not valid JSON" in repair_turn[-2]["content"]
    # Prose in strict json_schema mode: the provider ignored the format, so the repair spells the schema out.
    assert "PitchLike" in repair_turn[-1]["content"] and fake.requests[1]["response_format"]["type"] == "json_object"
    assert [c.outcome for c in _calls(storage)] == ["invalid", "repaired"]


def test_a_second_invalid_answer_raises_the_typed_error(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then("no", "still no")
        with pytest.raises(InvalidLLMOutput) as caught:
            asyncio.run(_gateway(storage).ask(REF, MESSAGES, SITE, output=PitchLike, rules=_rules))
    assert (caught.value.model, caught.value.role, caught.value.answer) == ("m/pm", "pm_pitch", "still no")
    assert len(fake.requests) == 2  # one repair attempt, no more
    assert [c.outcome for c in _calls(storage)] == ["invalid", "invalid"]


def test_an_answer_outside_the_schema_is_rejected(storage: Storage) -> None:
    outside = json.dumps({"instrument": "BTC", "direction": "LONG", "conviction": 5})
    with fake_llm() as fake:
        fake.then(outside, outside)
        with pytest.raises(InvalidLLMOutput) as caught:
            asyncio.run(_gateway(storage).ask(REF, MESSAGES, SITE, output=PitchLike, rules=_rules))
    assert "instrument" in caught.value.problem and "'BTC'" in caught.value.problem
    assert "conviction" in caught.value.problem and "less than or equal to 2" in caught.value.problem
    schema = fake.requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["instrument"]["enum"] == ["SPY", "TLT", "GLD"]
    assert (schema["properties"]["conviction"]["minimum"], schema["properties"]["conviction"]["maximum"]) == (-2, 2)


def test_a_provider_failure_is_recorded_and_raised(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(httpx.Response(401, json={"error": {"message": "bad key"}}))
        with pytest.raises(LLMRequestRejected):
            asyncio.run(_gateway(storage).ask_text(REF, MESSAGES, SITE, rules=lambda r: "x"))
    [event] = storage.events.read(type="LLMCallFailed")
    failed = LLMCallFailed.from_event(event)
    assert (failed.model, failed.error_type) == ("m/pm", "LLMAuthRejected") and "bad key" in failed.error


def test_replay_answers_from_the_cache_at_no_cost_and_fails_clearly_on_a_miss(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(VALID)
        live = asyncio.run(_gateway(storage).ask(REF, MESSAGES, SITE, output=PitchLike, rules=_rules))
    with fake_llm() as fake:
        replayed = asyncio.run(
            _gateway(storage, LLMMode.REPLAY).ask(REF, MESSAGES, SITE, output=PitchLike, rules=_rules)
        )
        assert fake.requests == []
        other = (MESSAGES[0], ChatMessage(role="user", content="A different question."))
        with pytest.raises(ReplayMiss, match="no cached answer for the pm_pitch call to m/pm"):
            asyncio.run(_gateway(storage, LLMMode.REPLAY).ask_text(REF, other, SITE, rules=lambda r: "x"))
    assert replayed.value == live.value
    assert replayed.usage.cost_usd == 0.0
    assert _calls(storage)[-1].source == "cache"


def test_offline_rules_are_deterministic_recorded_and_never_touch_the_network(storage: Storage) -> None:
    with fake_llm() as fake:
        first = asyncio.run(_gateway(storage, LLMMode.OFFLINE).ask(REF, MESSAGES, SITE, output=PitchLike, rules=_rules))
        second = asyncio.run(
            _gateway(storage, LLMMode.OFFLINE).ask(REF, MESSAGES, SITE, output=PitchLike, rules=_rules)
        )
    assert fake.requests == []
    assert first.value == second.value
    calls = _calls(storage)
    assert [c.source for c in calls] == ["rules", "rules"]
    assert calls[0].messages == [m.model_dump() for m in MESSAGES]  # the prompt a live run would send
    assert json.loads(calls[0].answer) == first.value.model_dump()
