"""An error inside an HTTP 200 that names no status (OpenRouter: "any error occurred while the LLM is producing the
output will be emitted in the response body", its code not always given; a choice ended by finish_reason "error";
proxies relaying an upstream's failure as {"error": {"message": ...}}): the upstream's transient failure, asked again
within the call as an in-body 5xx is, its words kept (respx at the transport, tests/fakes/llm_faults.py)."""

from __future__ import annotations

import asyncio

import pytest

from llmtrade.config.models import ModelRef
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.errors import LLMUnavailable
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.types import ChatMessage
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache
from tests.fakes import llm_faults as f
from tests.fakes.llm_faults import Step
from tests.fakes.llm_transport import BASE_URL, fake_llm

REF = ModelRef(model="m/pm", provider="fake", max_tokens=1000)
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
MESSAGES = (ChatMessage(role="system", content="You are a PM."), ChatMessage(role="user", content="Pitch."))


async def _no_wait(seconds: float) -> None:
    return None


def _text(storage: Storage, retries: int = 4) -> str:
    client = OpenAICompatibleClient("fake", BASE_URL, "k", sleep=_no_wait, max_retries=retries)
    gateway = LLMGateway(
        mode=LLMMode.LIVE, clients={"fake": client}, prices={}, events=storage.events, cache=AnswerCache(storage.conn)
    )
    return asyncio.run(gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "rules")).value


def _events(storage: Storage, kind: type) -> list:
    return [kind.from_event(e) for e in storage.events.read(type=kind.event_type())]


CODELESS: list[Step] = [
    f.error_body(200, None, "Provider returned error", "Chutes", "upstream connect error"),
    f.error_mid_answer(code=None),  # the choice ended by finish_reason "error", its error naming no code
]
# A stop the upstream's side made with no error object: Gemini's OTHER (Google's endpoint passes it through), and
# Anthropic's pause_turn behind OpenRouter's normalised "stop".
STOPPED: list[Step] = [f.stopped("OTHER"), f.stopped("stop", "pause_turn")]


@pytest.mark.parametrize(
    "fault", [*CODELESS, *STOPPED], ids=["error body", "error on the choice", "OTHER", "pause_turn"]
)
def test_a_codeless_error_inside_a_200_is_asked_again_within_the_call(storage: Storage, fault: Step) -> None:
    with fake_llm() as fake:
        fake.then(fault)
        assert _text(storage)
    assert len(fake.requests) == 2
    assert _events(storage, LLMCallFailed) == []
    [done] = _events(storage, LLMCallCompleted)
    assert done.attempts == 2


@pytest.mark.parametrize("fault", CODELESS, ids=["error body", "error on the choice"])
def test_a_codeless_error_every_time_ends_temporary_after_the_retries_with_the_providers_words(
    storage: Storage, fault: Step
) -> None:
    with fake_llm() as fake:
        fake.then(fault, fault, fault)
        with pytest.raises(LLMUnavailable, match="after 3 attempt") as caught:
            _text(storage, retries=2)
    assert len(fake.requests) == 3
    said = str(caught.value)
    assert "Chutes" in said and ("upstream connect error" in said or "connection reset by peer" in said)
    [failed] = _events(storage, LLMCallFailed)
    assert failed.error_type == "LLMUnavailable" and "3 attempt" in failed.error
