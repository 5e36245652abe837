"""The fake OpenAI server that benchmarks lean on: its generated answers validate, and it behaves like a provider.

A benchmark built on a fake that answers invalid JSON, serialises requests or ignores failures would
measure the wrong thing, so each of those properties is checked here against the real thing it stands
in for: pydantic models for the schemas, and an HTTP client over loopback for the server.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, Field

from tests.fakes.openai_server import FakeOpenAIServer, completion_for, instance_for_schema

REPO_ROOT = Path(__file__).resolve().parents[1]


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Order(BaseModel):
    symbol: str = Field(min_length=1, max_length=5)
    side: Side
    quantity: int = Field(ge=1, le=100)
    limit_price: float | None = Field(default=None, gt=0, lt=1000)


class Thesis(BaseModel):
    horizon: Literal["days", "weeks", "months"]
    confidence: float = Field(ge=0, le=1)
    summary: str = Field(min_length=10, max_length=40)


class Proposal(BaseModel):
    thesis: Thesis
    orders: list[Order] = Field(min_length=2, max_length=4)
    stop_loss_pct: int = Field(gt=0, lt=20)
    notes: str | None = None
    tags: list[str] = Field(default_factory=list, max_length=3)


class Critique(BaseModel):
    label: Literal["A", "B"]
    critique: str


class Review(BaseModel):
    ranking: list[Literal["A", "B", "C", "D"]] = Field(min_length=4, max_length=4)
    sides: list[Side] = Field(min_length=2, max_length=2)
    critiques: list[Critique] = Field(min_length=2, max_length=2)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as running:
        yield running


def _chat_request(model: str = "fake/pm-1", response_format: dict | None = None) -> dict:
    request: dict = {"model": model, "messages": [{"role": "user", "content": "Propose this week's trades."}]}
    if response_format is not None:
        request["response_format"] = response_format
    return request


def _json_schema_format(model: type[BaseModel]) -> dict:
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": model.model_json_schema()}}


def test_instance_for_schema_validates_against_nested_constrained_models() -> None:
    instance = instance_for_schema(Proposal.model_json_schema())

    proposal = Proposal.model_validate(instance)
    assert 2 <= len(proposal.orders) <= 4
    assert proposal.notes is not None and proposal.orders[0].limit_price is not None  # Optional fields are filled


def test_instance_for_schema_honours_exclusive_and_one_sided_numeric_bounds() -> None:
    schemas = [
        {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 2},
        {"type": "integer", "exclusiveMinimum": 7},
        {"type": "integer", "maximum": -3},
        {"type": "number", "exclusiveMinimum": 0.5},
        {"type": "number", "exclusiveMaximum": 0},
    ]

    assert [instance_for_schema(schema) for schema in schemas] == [1, 8, -3, 1.5, -1]


def test_instance_for_schema_gives_enum_arrays_distinct_labels_in_order() -> None:
    schema = {"type": "array", "items": {"enum": ["A", "B", "C"]}, "minItems": 3, "maxItems": 3}
    assert instance_for_schema(schema) == ["A", "B", "C"]

    review = Review.model_validate(instance_for_schema(Review.model_json_schema()))
    assert sorted(review.ranking) == ["A", "B", "C", "D"]  # a permutation: distinct entries
    assert review.sides == [Side.BUY, Side.SELL]  # enum items reached through $ref
    assert [critique.label for critique in review.critiques] == ["A", "B"]


def test_completion_for_json_schema_request_returns_content_valid_for_the_schema() -> None:
    request = _chat_request(response_format=_json_schema_format(Proposal))

    response = completion_for(request)

    assert response["object"] == "chat.completion" and response["model"] == "fake/pm-1"
    choice = response["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    Proposal.model_validate_json(choice["message"]["content"])
    usage = response["usage"]
    assert usage["prompt_tokens"] >= 1 and usage["completion_tokens"] >= 1
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_completion_for_plain_request_answers_text_naming_the_model() -> None:
    content = completion_for(_chat_request(model="fake/chairman"))["choices"][0]["message"]["content"]

    assert "fake/chairman" in content


def test_server_answers_chat_completions_over_loopback(server: FakeOpenAIServer) -> None:
    request = _chat_request(response_format=_json_schema_format(Review))

    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        answered = client.post("/chat/completions", json=request)
        unknown = client.post("/embeddings", json={"model": "fake/pm-1", "input": "x"})
    without_prefix = httpx.post(server.base_url.removesuffix("/v1") + "/chat/completions", json=request, timeout=5)

    assert server.base_url.startswith("http://127.0.0.1:")
    assert answered.status_code == 200 and without_prefix.status_code == 200
    Review.model_validate_json(answered.json()["choices"][0]["message"]["content"])
    assert unknown.status_code == 404 and "error" in unknown.json()
    assert server.requests == [request, request]  # the 404 was not a chat request


def test_server_keeps_a_connection_alive_across_requests_as_providers_do(server: FakeOpenAIServer) -> None:
    ports: list[int] = []

    def remember(response: httpx.Response) -> None:
        stream = response.extensions["network_stream"]
        ports.append(stream.get_extra_info("client_addr")[1])

    with httpx.Client(base_url=server.base_url, timeout=5, event_hooks={"response": [remember]}) as client:
        answers = [client.post("/chat/completions", json=_chat_request()) for _ in range(3)]
        refused = client.post("/embeddings", json={"model": "fake/pm-1", "input": "x"})  # its body is read too
        after = client.post("/chat/completions", json=_chat_request())

    assert [a.status_code for a in answers] == [200, 200, 200] and after.status_code == 200
    assert all(a.http_version == "HTTP/1.1" for a in answers)
    assert refused.status_code == 404
    assert len(set(ports)) == 1  # one TCP connection carried all five


def test_stop_closes_kept_alive_connections_so_the_next_request_fails() -> None:
    server = FakeOpenAIServer().start()
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        assert client.post("/chat/completions", json=_chat_request()).status_code == 200
        server.stop()
        with pytest.raises(httpx.TransportError):
            client.post("/chat/completions", json=_chat_request())
    assert server.requests == [_chat_request()]


def test_server_overlaps_eight_concurrent_requests() -> None:
    # Every answer waits until all eight requests are inside the server at once, so the peak is 8 however
    # slowly a loaded machine schedules the client threads (a fixed latency made that a race); a server
    # that served one request at a time would break the barrier and answer 500.
    everyone_in = threading.Barrier(8, timeout=30)

    def answer_when_all_arrived(request: dict[str, Any]) -> dict[str, Any]:
        everyone_in.wait()
        return completion_for(request)

    with (
        FakeOpenAIServer(answer=answer_when_all_arrived) as server,
        httpx.Client(base_url=server.base_url, timeout=60) as client,
    ):

        def ask(_: int) -> int:
            return client.post("/chat/completions", json=_chat_request()).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(ask, range(8)))

        assert statuses == [200] * 8
        assert server.max_in_flight == 8


def test_reset_forgets_requests_peak_and_pending_failures(server: FakeOpenAIServer) -> None:
    server.fail_next(500, times=2)
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        assert client.post("/chat/completions", json=_chat_request()).status_code == 500
        server.reset()
        assert server.requests == [] and server.max_in_flight == 0
        assert client.post("/chat/completions", json=_chat_request()).status_code == 200


def test_fail_next_answers_429_with_retry_after_then_succeeds(server: FakeOpenAIServer) -> None:
    server.fail_next(429, retry_after=1.5)

    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        refused = client.post("/chat/completions", json=_chat_request())
        retried = client.post("/chat/completions", json=_chat_request())

    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1.5"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert retried.status_code == 200


def test_module_runs_as_a_foreground_server_until_interrupted() -> None:
    command = [sys.executable, "-m", "tests.fakes.openai_server", "--latency", "0", "--port", "0"]
    with subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            printed = re.search(r"http://127\.0\.0\.1:\d+/v1", process.stdout.readline())
            assert printed is not None
            # Generous timeouts: a loaded CI machine (the suite on two workers beside PostgreSQL) can take seconds
            # to schedule a fresh interpreter's threads; the test is about the exit, not its speed.
            response = httpx.post(f"{printed[0]}/chat/completions", json=_chat_request(), timeout=30)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0
        finally:
            process.kill()

    assert response.status_code == 200
    assert response.json()["model"] == "fake/pm-1"
