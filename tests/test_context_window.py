"""An answer cut off because the prompt filled the model's context window is a final failure naming the window.

finish_reason "model_context_window_exceeded" (Anthropic's, relayed by OpenRouter, also as native_finish_reason
behind a "stop") was read as a max_tokens truncation: a structured answer was asked again with twice the
max_tokens, which the provider refuses as longer than the context (or fills again), a repair that can never work,
paid for twice."""

from __future__ import annotations

import asyncio
import random
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from llmtrade.config.models import ModelRef
from llmtrade.domain.events import LLMCallFailed
from llmtrade.errors import TemporaryError
from llmtrade.llm.gateway import CallSite
from llmtrade.llm.types import ChatMessage
from llmtrade.reply_errors import LLMContextExceeded, LLMTruncated
from llmtrade.storage.bootstrap import Storage
from tests.fakes import llm_faults as f
from tests.fakes.llm_transport import fake_llm
from tests.support import live_gateway

REF = ModelRef(model="m/pm", provider="fake", max_tokens=1000)
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
MESSAGES = (ChatMessage(role="system", content="You are a PM."), ChatMessage(role="user", content="Pitch."))


class Pitch(BaseModel):
    instrument: Literal["SPY", "TLT", "GLD"]
    conviction: int = Field(ge=-2, le=2)
    thesis: str


def _ask(storage: Storage) -> Any:
    gateway = live_gateway(storage)

    def rules(rng: random.Random) -> Pitch:
        return Pitch(instrument="SPY", conviction=1, thesis="rules")

    return asyncio.run(gateway.ask(REF, MESSAGES, SITE, output=Pitch, rules=rules))


@pytest.mark.parametrize(
    ("finish", "native"),
    [
        ("model_context_window_exceeded", None),
        ("stop", "model_context_window_exceeded"),
        ("length", "context_window_exceeded"),
    ],
)
def test_a_structured_answer_that_filled_the_context_window_is_final_not_repaired(
    storage: Storage, finish: str, native: str | None
) -> None:
    with fake_llm() as fake:
        fake.then(f.stopped(finish, native), f.answer())
        with pytest.raises(LLMContextExceeded) as caught:
            _ask(storage)
    assert [r["max_tokens"] for r in fake.requests] == [1000]  # no repair with 2000 that cannot fit either
    assert not isinstance(caught.value, (TemporaryError, LLMTruncated))
    assert "context window" in str(caught.value) and "shorten the prompt" in str(caught.value)
    [failed] = [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]
    assert failed.error_type == "LLMContextExceeded" and failed.answer  # the partial text is kept


def test_a_max_tokens_cut_is_still_repaired_with_more_room(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.truncated(), f.answer())
        assert _ask(storage).repaired
    assert [r["max_tokens"] for r in fake.requests] == [1000, 2000]
