"""OpenRouter's `provider.require_parameters` ("only use providers that support all parameters in your request",
openrouter.ai/docs/features/provider-routing) counts `temperature` too. A reasoning model whose endpoints do not list
temperature (Claude 5, OpenAI's o-series) matched no endpoint, and the 404 "No endpoints found that can handle the
requested parameters" stepped the call down from json_schema to json_object and then to JSON asked in the prompt: the
structured output lost to a sampling setting. Now the structured-output requirement wins: asked again without
temperature (the model's default), in the same format (respx at the transport, tests/fakes/llm_faults.py `routed`)."""

from __future__ import annotations

import asyncio
import random
from typing import Any, Literal

from pydantic import BaseModel, Field

from llmtrade.config.models import ModelRef
from llmtrade.domain.events import LLMCallCompleted
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.types import ChatMessage
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache
from tests.fakes import llm_faults as f
from tests.fakes.llm_transport import fake_llm

OPENROUTER = "https://openrouter.ai/api/v1"
REF = ModelRef(model="m/pm", provider="openrouter", max_tokens=1000)
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
MESSAGES = (ChatMessage(role="system", content="You are a PM."), ChatMessage(role="user", content="Pitch."))


class Pitch(BaseModel):
    instrument: Literal["SPY", "TLT", "GLD"]
    conviction: int = Field(ge=-2, le=2)
    thesis: str


async def _no_wait(seconds: float) -> None:
    return None


def _gateway(storage: Storage) -> LLMGateway:
    client = OpenAICompatibleClient("openrouter", OPENROUTER, "k", sleep=_no_wait)
    return LLMGateway(
        mode=LLMMode.LIVE,
        clients={"openrouter": client},
        prices={},
        events=storage.events,
        cache=AnswerCache(storage.conn),
    )


def _ask(gateway: LLMGateway) -> Any:
    def rules(rng: random.Random) -> Pitch:
        return Pitch(instrument="SPY", conviction=1, thesis="rules")

    return asyncio.run(gateway.ask(REF, MESSAGES, SITE, output=Pitch, rules=rules))


def _kinds(requests: list[dict[str, Any]]) -> list[str]:
    return [(r.get("response_format") or {}).get("type", "text") for r in requests]


def test_a_reasoning_model_keeps_its_json_schema_asked_without_temperature(storage: Storage) -> None:
    gateway = _gateway(storage)
    with fake_llm(OPENROUTER) as fake:
        fake.behaviour = f.routed("json_schema", "json_object", temperature=False)
        answer = _ask(gateway)
        _ask(gateway)  # the next call of the model goes without temperature at once
    assert not answer.repaired
    assert _kinds(fake.requests) == ["json_schema"] * 3
    assert ["temperature" in r for r in fake.requests] == [True, False, False]
    assert all(r["provider"] == {"require_parameters": True} for r in fake.requests)
    first, second = (LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted"))
    assert first.response_mode == "json_schema" and second.response_mode == "json_schema"
    assert "temperature" in (first.note or "") and "require_parameters" in (first.note or "")


def test_a_format_no_endpoint_takes_still_steps_down_with_temperature_kept(storage: Storage) -> None:
    """Without temperature the 404 stays: the format itself is what no endpoint takes. Stepped down as before, and the
    temperature asked for again (it was not the cause)."""
    with fake_llm(OPENROUTER) as fake:
        fake.behaviour = f.routed()
        answer = _ask(_gateway(storage))
    assert _kinds(fake.requests) == ["json_schema", "json_schema", "json_object", "text"]
    assert ["temperature" in r for r in fake.requests] == [True, False, True, True]
    assert not answer.repaired
