"""The OpenAI-compatible client: retries, Retry-After, timeouts, refusals, request shape."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from llmtrade.errors import LLMRequestRejected, LLMUnavailable
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.types import ChatMessage, ChatRequest
from tests.fakes.llm_transport import BASE_URL, fake_llm

REQUEST = ChatRequest(model="m/one", messages=(ChatMessage(role="user", content="hi"),))


class Sleeps:
    """Records backoff sleeps instead of waiting, so retry tests take no time."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _client(sleep: Sleeps, **kw: object) -> OpenAICompatibleClient:
    return OpenAICompatibleClient("test", BASE_URL, "sk-test", sleep=sleep, **kw)  # type: ignore[arg-type]


def test_a_429_with_retry_after_is_retried_after_that_long_then_succeeds() -> None:
    sleeps = Sleeps()
    with fake_llm() as fake:
        fake.then(httpx.Response(429, headers={"Retry-After": "3"}, json={"error": {"message": "slow down"}}))
        reply = asyncio.run(_client(sleeps).send(REQUEST))
    assert reply.attempts == 2
    assert sleeps.calls == [3.0]
    assert len(fake.requests) == 2
    assert reply.content


def test_server_errors_back_off_exponentially_then_succeed() -> None:
    sleeps = Sleeps()
    with fake_llm() as fake:
        fake.then(httpx.Response(502), httpx.Response(503))
        reply = asyncio.run(_client(sleeps).send(REQUEST))
    assert reply.attempts == 3
    assert len(sleeps.calls) == 2 and sleeps.calls[1] > sleeps.calls[0] - 0.5  # jittered, growing


def test_a_timeout_is_retried_and_then_reported() -> None:
    sleeps = Sleeps()
    with fake_llm() as fake:
        fake.then(*(httpx.ReadTimeout("slow") for _ in range(3)))
        with pytest.raises(LLMUnavailable) as caught:
            asyncio.run(_client(sleeps, max_retries=2, timeout_seconds=7).send(REQUEST))
    assert len(fake.requests) == 3
    assert "test did not answer m/one after 3 attempt(s)" in str(caught.value)
    assert "no answer within 7 s" in str(caught.value)


def test_a_connection_failure_is_retried() -> None:
    with fake_llm() as fake:
        fake.then(httpx.ConnectError("refused"))
        reply = asyncio.run(_client(Sleeps()).send(REQUEST))
    assert reply.attempts == 2


def test_retries_stop_within_the_total_time_budget() -> None:
    with fake_llm() as fake:
        fake.then(httpx.Response(500), httpx.Response(500))
        with pytest.raises(LLMUnavailable, match="after 1 attempt"):
            asyncio.run(_client(Sleeps(), max_retries=5, max_total_seconds=0.0).send(REQUEST))
    assert len(fake.requests) == 1


def test_a_refused_request_is_not_retried() -> None:
    sleeps = Sleeps()
    with fake_llm() as fake:
        fake.then(httpx.Response(401, json={"error": {"message": "No auth credentials found"}}))
        with pytest.raises(LLMRequestRejected, match="HTTP 401: No auth credentials found"):
            asyncio.run(_client(sleeps).send(REQUEST))
    assert len(fake.requests) == 1 and sleeps.calls == []


def test_structured_requests_carry_a_strict_json_schema_and_the_key() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    request = REQUEST.model_copy(update={"schema_name": "Thing", "json_schema": schema})
    with fake_llm() as fake:
        asyncio.run(_client(Sleeps()).send(request))
    body = fake.requests[0]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Thing", "schema": schema, "strict": True},
    }
    assert fake.authorizations == ["Bearer sk-test"]
    assert "usage" not in body and "provider" not in body  # only OpenRouter is asked for its cost and routing fields


def test_openrouter_is_asked_for_cost_and_its_cost_is_used() -> None:
    def with_cost(body: dict) -> httpx.Response:
        reply = {
            "choices": [{"message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "cost": 0.0123},
        }
        return httpx.Response(200, json=reply)

    with fake_llm("https://openrouter.ai/api/v1") as fake:
        fake.then(with_cost)
        client = OpenAICompatibleClient("openrouter", "https://openrouter.ai/api/v1", "k", sleep=Sleeps())
        reply = asyncio.run(client.send(REQUEST))
    assert fake.requests[0]["usage"] == {"include": True}
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.cost_usd) == (10, 5, 0.0123)


def _trickled(body: dict[str, object], *, pause: float, lines: int) -> httpx.Response:
    """HTTP 200 at once, then a "\\n" every `pause` s (a whitespace keep-alive), then the answer."""
    from tests.fakes.openai_server import completion_for

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(lines):
            await asyncio.sleep(pause)
            yield b"\n"
        yield json.dumps(completion_for(body)).encode()

    return httpx.Response(200, headers={"content-type": "application/json"}, content=chunks())


def test_a_body_trickled_past_the_timeout_times_the_attempt_out_though_each_read_is_quick() -> None:
    """Seen with a provider's keep-alive: httpx's timeout is per read, so 0.05 s between bytes never tripped it and
    the call took as long as the server liked. Each attempt has a whole deadline (attempt_floor_seconds + max_tokens /
    min_tokens_per_second: 0.3 s + 4000 / 1e5 here)."""
    sleeps = Sleeps()
    with fake_llm() as fake:
        fake.then(*(lambda body: _trickled(body, pause=0.05, lines=40) for _ in range(2)))
        started = time.perf_counter()
        client = _client(
            sleeps, max_retries=1, timeout_seconds=0.3, attempt_floor_seconds=0.3, min_tokens_per_second=1e5
        )
        with pytest.raises(LLMUnavailable) as caught:
            asyncio.run(client.send(REQUEST))
        took = time.perf_counter() - started
    assert len(fake.requests) == 2  # a timeout is temporary: retried, then reported
    assert "no whole answer within 0.34 s" in str(caught.value)
    assert took < 1.5  # two attempts of 0.3 s, not two bodies of 2 s
