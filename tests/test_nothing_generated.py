"""An empty answer with nothing generated (OpenRouter: a model warming up or its provider scaling, "usually a few
seconds to a few minutes", a retry advised) is asked again within the call, and stays temporary: it was repaired
once and then held as the role's final failure for the week."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from llmtrade.config.models import ModelRef
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.errors import LLMUnavailable
from llmtrade.llm.gateway import CallSite
from llmtrade.llm.replies import nothing_generated
from llmtrade.llm.types import ChatMessage
from llmtrade.pipeline.retry import holdable
from llmtrade.reply_errors import LLMEmptyAnswer
from llmtrade.storage.bootstrap import Storage
from tests.fakes import llm_faults as f
from tests.fakes.llm_transport import fake_llm
from tests.support import live_gateway

REF = ModelRef(model="m/pm", provider="fake", max_tokens=1000)
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
MESSAGES = (ChatMessage(role="user", content="Pitch."),)


class Pitch(BaseModel):
    instrument: Literal["SPY", "TLT"]


def _ask(storage: Storage) -> Any:
    gateway = live_gateway(storage)
    return asyncio.run(gateway.ask(REF, MESSAGES, SITE, output=Pitch, rules=lambda rng: Pitch(instrument="SPY")))


def _events(storage: Storage, kind: type[Any]) -> list[Any]:
    return [kind.from_event(e) for e in storage.events.read(type=kind.event_type())]


def test_nothing_generated_is_asked_again_within_the_call_and_the_answer_then_taken(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.nothing_generated(), f.nothing_generated())
        answer = _ask(storage)
    assert answer.value.instrument in ("SPY", "TLT") and not answer.repaired
    assert len(fake.requests) == 3
    [done] = _events(storage, LLMCallCompleted)
    assert done.attempts == 3 and _events(storage, LLMCallFailed) == []


def test_nothing_generated_at_every_attempt_is_temporary_never_a_final_failure(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(*[f.nothing_generated()] * 20)
        with pytest.raises(LLMUnavailable) as caught:
            _ask(storage)
    assert "gave an empty answer" in str(caught.value) and "nothing generated" in str(caught.value)
    assert not holdable(caught.value)  # a rerun asks again: not held as the role's failure
    assert 1 < len(fake.requests) < 20


def test_an_empty_answer_that_spent_tokens_is_the_models_own_and_is_repaired_once(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.answer(""))  # completion tokens reported: the model wrote nothing usable
        answer = _ask(storage)
    assert answer.repaired and len(fake.requests) == 2


@pytest.mark.parametrize(
    ("said", "generated"),
    [
        ({}, False),
        ({"completion_tokens": 3}, True),
        ({"reasoning": "Let me think"}, True),
        ({"finish_reason": "tool_calls"}, True),
        ({"usage_reported": False}, True),  # no usage: nothing says nothing was generated
        ({"content": "partial"}, True),
    ],
)
def test_what_counts_as_nothing_generated(said: dict[str, Any], generated: bool) -> None:
    empty = LLMEmptyAnswer("fake (m) gave an empty answer", **{"finish_reason": "stop", **said})
    assert nothing_generated(empty) is not generated
