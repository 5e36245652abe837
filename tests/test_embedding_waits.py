"""The embeddings client waits as the chat client does (llm/retry_policy.py RetryPolicy.wait): the backoff 0.5 s
doubling to at most 20 s plus up to 0.5 s of jitter, or the provider's Retry-After capped at the configured most; the
same attempts and the same final message."""

from __future__ import annotations

import random

import httpx
import pytest
import respx

from llmtrade.errors import LLMRateLimited, LLMUnavailable
from llmtrade.llm.embeddings import EmbeddingClient
from llmtrade.llm.retry_policy import RetryPolicy

BASE = "https://embed.test/v1"
OK = {"data": [{"index": 0, "embedding": [0.5, 0.25]}]}


def _backoff(attempt: int, rng: random.Random) -> float:
    """The waits as written before the client shared the policy: kept here to prove they did not change."""
    return min(0.5 * 2 ** (attempt - 1), 20.0) + rng.uniform(0, 0.5)


@pytest.mark.real_backoff
@respx.mock
def test_the_backoff_without_retry_after_is_the_policys_with_the_same_jitter() -> None:
    respx.post(f"{BASE}/embeddings").mock(side_effect=[httpx.Response(503)] * 7 + [httpx.Response(200, json=OK)])
    waits: list[float] = []
    client = EmbeddingClient("openai", BASE, "k", max_retries=7, sleep=waits.append)
    random.seed(11)
    assert client.post("m", ["a"]).vectors == [[0.5, 0.25]]
    rng = random.Random(11)
    assert waits == [_backoff(attempt, rng) for attempt in range(1, 8)]
    random.seed(11)
    policy = RetryPolicy(max_retries=7)
    assert waits == [policy.wait(attempt, None) for attempt in range(1, 8)]
    assert waits[-1] >= 20.0  # 0.5 * 2**6 = 32, capped


@respx.mock
def test_a_retry_after_is_waited_as_asked_and_capped_at_the_most_allowed() -> None:
    respx.post(f"{BASE}/embeddings").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(503, headers={"Retry-After": "0"}),
            httpx.Response(200, json=OK),
        ]
    )
    waits: list[float] = []
    client = EmbeddingClient("openai", BASE, "k", max_retries=4, max_retry_after_seconds=10, sleep=waits.append)
    client.post("m", ["a"])
    assert waits == [3.0, 0.0]


@respx.mock
def test_a_retry_after_beyond_the_most_allowed_is_refused_at_once() -> None:
    route = respx.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(429, headers={"Retry-After": "600"}))
    waits: list[float] = []
    client = EmbeddingClient("openai", BASE, "k", max_retries=4, max_retry_after_seconds=10, sleep=waits.append)
    with pytest.raises(LLMRateLimited):
        client.post("m", ["a"])
    assert waits == [] and route.call_count == 1


@respx.mock
def test_the_attempts_end_after_max_retries_with_the_same_message() -> None:
    route = respx.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(503))
    waits: list[float] = []
    client = EmbeddingClient("openai", BASE, "k", max_retries=2, sleep=waits.append)
    with pytest.raises(LLMUnavailable, match=r"^openai did not embed with m after 3 attempt\(s\) in \d+\.\d s: "):
        client.post("m", ["a"])
    assert route.call_count == 3 and len(waits) == 2


@respx.mock
def test_the_total_time_limit_counts_from_the_start_of_the_whole_post() -> None:
    route = respx.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(503))
    client = EmbeddingClient("openai", BASE, "k", max_retries=9, max_total_seconds=0.0, sleep=lambda _: None)
    with pytest.raises(LLMUnavailable, match=r"after 1 attempt\(s\)"):
        client.post("m", ["a"])
    assert route.call_count == 1
