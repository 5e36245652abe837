"""EmbeddingCallFailed.attempts: the requests a failed batch really sent (respx at the transport), not 0."""

from __future__ import annotations

import httpx
import pytest
import respx

from llmtrade.domain.embedding_calls import EmbeddingCallFailed
from llmtrade.errors import LLMRequestRejected, LLMUnavailable
from llmtrade.llm.cached_embeddings import Embeddings
from llmtrade.llm.embeddings import EmbeddingClient, EmbeddingDimensionMismatch
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.memory_embedding_cache import EmbeddingCache

BASE = "https://api.openai.test/v1"
MODEL = "text-embedding-3-small"
# OpenAI's overload, as its API answers it (a 503 with an error object of type server_error).
OVERLOADED = {"error": {"message": "The server is overloaded or not ready yet.", "type": "server_error"}}


def _embeddings(storage: Storage, *, retries: int = 2, dims: int = 4) -> Embeddings:
    client = EmbeddingClient("openai", BASE, "key", max_retries=retries, sleep=lambda _: None)
    return Embeddings(
        client,
        MODEL,
        provider="openai",
        dimensions=dims,
        events=storage.events,
        cache=EmbeddingCache(storage.conn),
        run_id="run-1",
    )


def _failed(storage: Storage) -> EmbeddingCallFailed:
    (event,) = storage.events.read(type=EmbeddingCallFailed.event_type())
    return EmbeddingCallFailed.from_event(event)


@respx.mock
def test_a_batch_failed_after_every_retry_records_each_request_sent(storage: Storage) -> None:
    route = respx.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(503, json=OVERLOADED))
    with pytest.raises(LLMUnavailable, match="3 attempt"):
        _embeddings(storage, retries=2).embed(["a"])
    assert route.call_count == 3
    assert _failed(storage).attempts == 3


@respx.mock
def test_a_refusal_after_a_retried_overload_counts_both_requests(storage: Storage) -> None:
    refused = {"error": {"message": "Incorrect API key provided: sk-***", "type": "invalid_request_error"}}
    route = respx.post(f"{BASE}/embeddings").mock(
        side_effect=[httpx.Response(503, json=OVERLOADED), httpx.Response(401, json=refused)]
    )
    with pytest.raises(LLMRequestRejected, match="Incorrect API key"):
        _embeddings(storage).embed(["a"])
    assert route.call_count == 2
    assert _failed(storage).attempts == 2


@respx.mock
def test_vectors_of_the_wrong_size_record_the_request_that_brought_them(storage: Storage) -> None:
    body = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25, -0.125]}],
        "model": MODEL,
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    respx.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(EmbeddingDimensionMismatch):
        _embeddings(storage, dims=4).embed(["a"])
    assert _failed(storage).attempts == 1
