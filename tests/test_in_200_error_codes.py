"""An error inside an HTTP 200 is judged by the status it stands for, wherever it sits and however it is written.

Seen in a trial: OpenRouter's error on the choice itself (finish_reason "error", `choices[].error` with a 4xx code, as
it relays an upstream refusal mid-answer) was always LLMUpstreamError, temporary, so `run-weekly` exited 75 on every
rerun for a request the provider will never take; and an error with a word code (OpenAI's "rate_limit_exceeded",
Google's status "RESOURCE_EXHAUSTED", no number, no "rate limit" in its message) was no rate limit: no wait inside
the run. The chat client, ask's turn and the embeddings client read them alike (llm/error_codes.error_status)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from llmtrade.config.models import ModelRef
from llmtrade.domain.events import LLMCallFailed
from llmtrade.errors import LLMAuthRejected, TemporaryError
from llmtrade.llm.embeddings import EmbeddingClient
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.records import CallSite as AskSite
from llmtrade.llm.tool_chat import ToolChat
from llmtrade.llm.types import ChatMessage
from llmtrade.reply_errors import LLMContextExceeded
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache
from tests.fakes import llm_faults as f
from tests.fakes.llm_faults import Fault
from tests.fakes.llm_transport import BASE_URL, fake_llm

REF = ModelRef(model="m/pm", provider="fake", max_tokens=1000)
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
MESSAGES = (ChatMessage(role="system", content="You are a PM."), ChatMessage(role="user", content="Pitch."))
TOO_LONG = "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens."


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _text(storage: Storage, sleeps: Sleeps | None = None) -> Any:
    client = OpenAICompatibleClient("fake", BASE_URL, "k", sleep=sleeps or Sleeps())
    gateway = LLMGateway(
        mode=LLMMode.LIVE, clients={"fake": client}, prices={}, events=storage.events, cache=AnswerCache(storage.conn)
    )
    return asyncio.run(gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "rules"))


def _failed(storage: Storage) -> list[LLMCallFailed]:
    return [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]


def _in_200(error: dict[str, Any]) -> f.Step:
    return lambda req: Fault(200, {"error": error})


@pytest.mark.parametrize(
    ("code", "kind"),
    # A prompt past the context window, in a code of any shape: final, and said as what it is (http_errors.refusal).
    [(400, LLMContextExceeded), ("400", LLMContextExceeded), ("context_length_exceeded", LLMContextExceeded)],
)
def test_an_error_on_the_choice_with_a_4xx_code_is_a_final_refusal(storage: Storage, code: Any, kind: type) -> None:
    with fake_llm() as fake:
        fake.then(f.error_mid_answer(code=code, message=TOO_LONG, raw=TOO_LONG))
        with pytest.raises(kind) as caught:
            _text(storage)
    assert len(fake.requests) == 1
    assert not isinstance(caught.value, TemporaryError)
    assert "maximum context length is 8192 tokens" in str(caught.value)
    [failed] = _failed(storage)
    assert failed.error_type == kind.__name__ and failed.billed  # a 200: the model began, so it is billed


def test_an_error_on_the_choice_with_a_401_is_the_keys_refusal(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.error_mid_answer(code=401, message="User not found."))
        with pytest.raises(LLMAuthRejected):
            _text(storage)
    assert len(fake.requests) == 1


def test_an_error_on_the_choice_with_a_5xx_code_is_retried_within_the_call(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.error_mid_answer(code=502))
        assert _text(storage).value
    assert len(fake.requests) == 2


@pytest.mark.parametrize(
    "error",
    [
        {"code": "rate_limit_exceeded", "message": "Slow down.", "type": "requests"},
        {"type": "rate_limit_error", "message": "Number of request tokens has exceeded your per-minute limit"},
        {"status": "RESOURCE_EXHAUSTED", "message": "Quota exceeded for aiplatform.googleapis.com/online_prediction"},
        {"message": "Too many requests, please slow down"},
    ],
    ids=["openai-code", "anthropic-type", "google-status", "words"],
)
def test_a_rate_limit_in_a_200_said_in_words_is_waited_within_the_run(storage: Storage, error: dict) -> None:
    sleeps = Sleeps()
    with fake_llm() as fake:
        fake.then(_in_200(error))
        assert _text(storage, sleeps).value
    assert len(fake.requests) == 2 and len(sleeps.calls) == 1 and _failed(storage) == []


def test_a_word_code_of_a_final_refusal_in_a_200_is_final(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(_in_200({"code": "context_length_exceeded", "type": "invalid_request_error", "message": TOO_LONG}))
        with pytest.raises(LLMContextExceeded, match="maximum context length"):
            _text(storage)
    assert len(fake.requests) == 1


def test_asks_turn_reads_an_error_on_the_choice_by_its_code(storage: Storage) -> None:
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
    body = f.error_mid_answer(code=400, message=TOO_LONG)({"model": "m/ask", "messages": []}).body
    with respx.mock() as mock:
        mock.post("https://llm.test/v1/chat/completions").mock(return_value=httpx.Response(200, json=body))
        with pytest.raises(LLMContextExceeded) as caught:
            asyncio.run(chat.turn([{"role": "user", "content": "why?"}], [], AskSite(role="ask", run_id="run-ask")))
    assert not isinstance(caught.value, TemporaryError) and "maximum context length" in str(caught.value)


@respx.mock
def test_the_embeddings_client_waits_a_word_coded_rate_limit_and_refuses_a_word_coded_4xx() -> None:
    base = "https://embed.test/v1"
    ok = {"data": [{"index": 0, "embedding": [0.5, 0.25]}]}
    route = respx.post(f"{base}/embeddings").mock(
        side_effect=[
            httpx.Response(200, json={"error": {"code": "rate_limit_exceeded", "message": "Slow"}}),
            httpx.Response(200, json=ok),
        ]
    )
    waits: list[float] = []
    client = EmbeddingClient("openai", base, "k", max_retries=2, sleep=waits.append)
    assert client.post("text-embedding-3-small", ["a"]).vectors == [[0.5, 0.25]]
    assert route.call_count == 2 and len(waits) == 1
    refused = {"error": {"code": "context_length_exceeded", "type": "invalid_request_error", "message": TOO_LONG}}
    route.side_effect = None
    route.return_value = httpx.Response(200, json=refused)
    with pytest.raises(LLMContextExceeded, match="maximum context length"):
        client.post("text-embedding-3-small", ["a"])
    assert route.call_count == 3  # the two above, and this one: not retried
