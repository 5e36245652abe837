"""Vectors and replies from an /embeddings endpoint that the memory cannot use (respx at the transport).

A value beyond float32's range (1e39) crashed `memory search` with a traceback (OverflowError in _f32 on some
builds, else pgvector's "infinite value not allowed in vector"); NaN and Infinity (which Python's JSON reader
accepts as literals), a vector of zeros and one over pgvector's 16,000 dimensions reached the database the same way.
Ollama's bge-m3 answers 500 "json: unsupported value: NaN" for certain texts on every attempt (ollama/ollama issues
14657, 15582): it was retried as an outage and exited 75 on every rerun."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from llmtrade.domain.embedding_calls import EmbeddingCallCompleted, EmbeddingCallFailed
from llmtrade.errors import TemporaryError
from llmtrade.llm.cached_embeddings import Embeddings
from llmtrade.llm.embedding_identity import text_key
from llmtrade.llm.embeddings import EmbeddingClient, EmbeddingDimensionMismatch, EmbeddingMalformed
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.memory_embedding_cache import EmbeddingCache

BASE = "http://127.0.0.1:11434/v1"
MODEL = "bge-m3"


def _embeddings(storage: Storage, *, dims: int | None = None) -> Embeddings:
    client = EmbeddingClient("ollama", BASE, None, max_retries=3, sleep=lambda _: None)
    return Embeddings(
        client,
        MODEL,
        provider="ollama",
        dimensions=dims,
        events=storage.events,
        cache=EmbeddingCache(storage.conn),
        run_id="run-1",
    )


def _raw(vector_text: str) -> httpx.Response:
    """A 200 whose embedding is written as given (JSON literals json.dumps would not write: NaN, 1e400)."""
    body = f'{{"object":"list","data":[{{"object":"embedding","index":0,"embedding":{vector_text}}}],"usage":{{}}}}'
    return httpx.Response(200, content=body.encode(), headers={"content-type": "application/json"})


def _cached(storage: Storage) -> int:
    return storage.conn.execute("SELECT count(*) FROM embedding_cache").fetchone()[0]


@pytest.mark.parametrize(
    ("vector", "said"),
    [
        ("[1e39, 0.5]", "beyond float32"),
        ("[-3.5e38, 0.5]", "beyond float32"),
        ("[1" + "0" * 400 + ", 0.5]", "beyond float32"),
        ("[NaN, 0.5]", "NaN"),
        ("[Infinity, 0.5]", "infinite"),
        ("[0.0, 0, 0.0]", "every value is 0"),
        (json.dumps([0.01] * 16001), "more than pgvector's 16000"),
    ],
    ids=["1e39", "-3.5e38", "huge-int", "NaN", "Infinity", "zeros", "too-many-dims"],
)
@respx.mock
def test_a_vector_pgvector_cannot_hold_is_a_final_typed_error_recorded_and_not_cached(
    storage: Storage, vector: str, said: str
) -> None:
    route = respx.post(f"{BASE}/embeddings").mock(return_value=_raw(vector))
    with pytest.raises(EmbeddingMalformed, match="cannot use") as caught:
        _embeddings(storage).embed(["momentum breakout"])
    assert said in str(caught.value) and not isinstance(caught.value, TemporaryError)
    assert route.call_count == 1  # the same text gets the same vector: not asked again
    assert _cached(storage) == 0
    [failed] = [EmbeddingCallFailed.from_event(e) for e in storage.events.read(type="EmbeddingCallFailed")]
    assert failed.error_type == "EmbeddingMalformed" and said in failed.error


@pytest.mark.parametrize(
    "body",
    [
        # Ollama's OpenAI-compatible /v1/embeddings, and its native error shape
        {"error": {"message": "failed to encode response: json: unsupported value: NaN", "type": "api_error"}},
        {"error": "failed to encode response: json: unsupported value: NaN"},
    ],
    ids=["v1", "native"],
)
@respx.mock
def test_ollamas_nan_500_is_a_final_failure_at_once_not_an_outage(storage: Storage, body: dict) -> None:
    route = respx.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(500, json=body))
    with pytest.raises(EmbeddingMalformed) as caught:
        _embeddings(storage).embed(["Let me read the InputArea file in sections", "another text"])
    assert route.call_count == 1
    assert not isinstance(caught.value, TemporaryError)
    message = str(caught.value)
    assert "produced a NaN for one of 2 text(s)" in message and "use another embedding model" in message
    [failed] = [EmbeddingCallFailed.from_event(e) for e in storage.events.read(type="EmbeddingCallFailed")]
    assert failed.error_type == "EmbeddingMalformed"


@respx.mock
def test_any_other_500_is_still_retried(storage: Storage) -> None:
    route = respx.post(f"{BASE}/embeddings").mock(
        side_effect=[
            httpx.Response(500, json={"error": {"message": "model runner has unexpectedly stopped"}}),
            _raw("[0.5, 0.25]"),
        ]
    )
    assert _embeddings(storage).embed(["a"]) == [[0.5, 0.25]]
    assert route.call_count == 2


@respx.mock
def test_vectors_of_two_sizes_in_a_first_batch_are_refused_and_not_cached(storage: Storage) -> None:
    body = {"data": [{"index": 0, "embedding": [0.5, 0.25]}, {"index": 1, "embedding": [0.5, 0.25, 0.125]}]}
    respx.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(EmbeddingDimensionMismatch):
        _embeddings(storage).embed(["a", "b"])
    assert _cached(storage) == 0


@respx.mock
def test_a_cached_vector_of_another_size_is_never_mixed_with_fresh_ones(storage: Storage) -> None:
    """The model behind a name changed size (an Ollama tag pulled again): the cache holds 'a' at 3 dimensions, the
    server now answers 'b' at 2. One batch of both would reach pgvector in two sizes."""
    EmbeddingCache(storage.conn).put_many(MODEL, 3, {text_key(MODEL, None, "a"): [0.5, 0.25, 0.125]})
    respx.post(f"{BASE}/embeddings").mock(
        return_value=httpx.Response(200, json={"data": [{"index": 0, "embedding": [0.5, 0.25]}]})
    )
    with pytest.raises(EmbeddingDimensionMismatch, match=r"now answers 2 dimensions.*\[3\].*memory rebuild"):
        _embeddings(storage).embed(["a", "b"])
    assert _cached(storage) == 1
    assert storage.events.read(type="EmbeddingCallFailed")


@pytest.mark.parametrize("usage", [{"prompt_tokens": "many", "cost": "NaN"}, {"prompt_tokens": 1e400, "cost": -1}])
@respx.mock
def test_a_usage_that_is_no_number_is_unreported_not_a_crash(storage: Storage, usage: dict) -> None:
    body = json.dumps({"data": [{"index": 0, "embedding": [0.5, 0.25]}], "usage": usage}).replace("Infinity", "1e400")
    respx.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(200, content=body.encode()))
    assert _embeddings(storage).embed(["a"]) == [[0.5, 0.25]]
    [done] = [EmbeddingCallCompleted.from_event(e) for e in storage.events.read(type="EmbeddingCallCompleted")]
    assert done.prompt_tokens == 0 and done.cost_usd is None
