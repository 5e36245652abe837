"""The embeddings client reads errors as the chat client does (review G, D6), and an OpenRouter 402 says what fixes it.

It had only httpx's per-read timeout (a trickled keep-alive held it for ever) and treated 402 and 408 as final
refusals; a 402 said "add credits" even when OpenRouter's limit_source named the key's own spending limit; an in-body
error code given as 400.0 was not read as a number by the chat client. HTTP mocked at the transport (respx)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
import respx

from llmtrade.errors import LLMAuthRejected, LLMNoEndpoint, LLMOutOfCredits, LLMRequestRejected, LLMUnavailable
from llmtrade.llm.embeddings import EmbeddingClient
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.types import ChatMessage, ChatRequest
from tests.fakes.llm_transport import BASE_URL, fake_llm

BASE = "https://embed.test/api/v1"
MODEL = "openai/text-embedding-3-small"
OK = {"object": "list", "data": [{"index": 0, "embedding": [0.5, 0.25]}], "usage": {"prompt_tokens": 3}}
KEY_LIMIT = {"error": {"code": 402, "message": "Key limit exceeded", "metadata": {"limit_source": "key"}}}
NO_CREDITS = {"error": {"code": 402, "message": "Insufficient credits", "metadata": {"limit_source": "credits"}}}


def _client(**kw: object) -> EmbeddingClient:
    return EmbeddingClient("openrouter", BASE, "key", max_retries=1, sleep=lambda _: None, **kw)  # type: ignore[arg-type]


@respx.mock
def test_an_embeddings_408_is_retried() -> None:
    route = respx.post(f"{BASE}/embeddings").mock(
        side_effect=[
            httpx.Response(408, json={"error": {"code": 408, "message": "timed out"}}),
            httpx.Response(200, json=OK),
        ]
    )
    assert _client().post(MODEL, ["a"]).attempts == 2
    assert route.call_count == 2


@respx.mock
def test_an_embeddings_402_is_out_of_credits_and_says_what_fixes_it() -> None:
    respx.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(402, json=NO_CREDITS))
    with pytest.raises(LLMOutOfCredits, match="add credits"):
        _client().post(MODEL, ["a"])


@pytest.mark.parametrize("message", ["No endpoints found matching your data policy", "Model not found"])
@respx.mock
def test_an_embeddings_404_is_no_endpoint_named_as_refused_not_retried(message: str) -> None:
    """Review G2: a 404 (OpenRouter's data-policy routing, an unknown model) is fixed in the account or models.yaml,
    as a refused key is: LLMNoEndpoint, an LLMAuthRejected (named, never held as a final failure, asked again after
    the fix), as the chat client's is; not retried, not a plain LLMRequestRejected."""
    route = respx.post(f"{BASE}/embeddings").mock(
        return_value=httpx.Response(404, json={"error": {"code": 404, "message": message}})
    )
    with pytest.raises(LLMNoEndpoint, match="check the model's name and the account's settings") as caught:
        _client().post(MODEL, ["a"])
    assert isinstance(caught.value, LLMAuthRejected) and message in str(caught.value)
    assert route.call_count == 1


@respx.mock
def test_an_embeddings_in_body_error_code_decides_as_a_status_would() -> None:
    route = respx.post(f"{BASE}/embeddings").mock(
        side_effect=[
            httpx.Response(200, json={"error": {"code": 503.0, "message": "down"}}),
            httpx.Response(200, json=OK),
        ]
    )
    assert _client().post(MODEL, ["a"]).attempts == 2 and route.call_count == 2
    respx.post(f"{BASE}/embeddings").mock(
        return_value=httpx.Response(200, json={"error": {"code": "402", **NO_CREDITS["error"]}})
    )
    with pytest.raises(LLMOutOfCredits):
        _client().post(MODEL, ["a"])


def _trickle() -> Iterator[bytes]:
    for _ in range(200):
        time.sleep(0.02)
        yield b"\n"
    yield b"{}"


@respx.mock
def test_an_embeddings_keep_alive_that_never_ends_times_out_at_the_attempt_deadline() -> None:
    respx.post(f"{BASE}/embeddings").mock(side_effect=lambda request: httpx.Response(200, content=_trickle()))
    started = time.perf_counter()
    with pytest.raises(LLMUnavailable, match=r"no whole answer within 0\.3 s"):
        _client(timeout_seconds=0.2, attempt_floor_seconds=0.3).post(MODEL, ["a"])
    assert time.perf_counter() - started < 2.5  # two attempts of 0.3 s, not two bodies of 4 s


def test_a_402_for_the_keys_own_limit_says_to_raise_it_not_to_add_credits() -> None:
    async def no_wait(_: float) -> None:
        return None

    with fake_llm() as fake:
        fake.then(httpx.Response(402, json=KEY_LIMIT))
        client = OpenAICompatibleClient("openrouter", BASE_URL, "k", max_retries=0, sleep=no_wait)
        with pytest.raises(LLMOutOfCredits) as caught:
            asyncio.run(client.send(ChatRequest(model="m/one", messages=(ChatMessage(role="user", content="hi"),))))
    assert "raise the key's limit" in str(caught.value) and "add credits" not in str(caught.value)


@pytest.mark.parametrize("code", [400.0, "400", "400.0"])
def test_an_in_body_code_given_as_a_float_or_a_string_is_read_as_a_number(code: object) -> None:
    async def no_wait(_: float) -> None:
        return None

    body = {"error": {"code": code, "message": "Invalid value for 'messages': expected an array"}}
    with fake_llm() as fake:
        fake.then(httpx.Response(200, json=body))
        client = OpenAICompatibleClient("openrouter", BASE_URL, "k", max_retries=2, sleep=no_wait)
        with pytest.raises(LLMRequestRejected, match="Invalid value for 'messages'"):
            asyncio.run(client.send(ChatRequest(model="m/one", messages=(ChatMessage(role="user", content="hi"),))))
        assert len(fake.requests) == 1  # final at once, not retried as an upstream error


@respx.mock
@pytest.mark.parametrize("error", [{"message": "upstream hiccup"}, {"code": "server_error", "message": "hiccup"}])
def test_an_embeddings_in_body_error_without_a_numeric_code_is_temporary(error: dict[str, object]) -> None:
    """Review G2: `code or 400` made an in-body error with a word code, or none, a final refusal; the chat client
    takes it as an upstream failure (temporary). Now retried, then LLMUnavailable."""
    route = respx.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(200, json={"error": error}))
    with pytest.raises(LLMUnavailable):
        _client().post(MODEL, ["a"])
    assert route.call_count == 2
