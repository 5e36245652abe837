"""Another embedding model of the same size answering under the configured name (respx at the transport).

TEI answers /v1/embeddings with the model it has loaded whatever the request names (its router sets `model:
info.model_id`): a container restarted on another model of the same size went on answering `memory.embedding`'s name,
and the memory, which knew a model by its configured name and size alone, cached and stored its vectors beside the
first model's and searched each model's queries against the other's vectors, with no word. The model a reply names is
now kept with each cached vector, and a reply naming another is refused (exit 1) as a change of size is, saying both.
OpenAI names the model it used; vLLM and Ollama name the model asked for (the same every time); a server may name
none, and is taken at its word."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from llmtrade.domain.embedding_calls import EmbeddingCallCompleted, EmbeddingCallFailed
from llmtrade.llm.cached_embeddings import Embeddings
from llmtrade.llm.embedding_identity import EmbeddingModelChanged
from llmtrade.llm.embeddings import EmbeddingClient
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.memory_embedding_cache import EmbeddingCache

BASE = "http://127.0.0.1:8080/v1"
NAME = "bge-small"  # the name models.yaml gives memory.embedding; TEI does not read it
SIZE = 384


class _Tei:
    """TEI's /v1/embeddings: its loaded model's vectors, named by its model id whatever the request's `model`."""

    def __init__(self, model_id: str | None, first: float) -> None:
        self.model_id, self.first = model_id, first

    def __call__(self, request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content)["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": [self.first] + [0.25] * (SIZE - 1)}
            for i in range(len(texts))
        ]
        body = {
            "object": "list",
            "data": data,
            "model": self.model_id,
            "usage": {"prompt_tokens": 3, "total_tokens": 3},
        }
        return httpx.Response(200, json=body)


def _embeddings(storage: Storage) -> Embeddings:
    # A new instance per run, as each command builds its own: what earlier runs learned is in the cache alone.
    client = EmbeddingClient("tei", BASE, None, max_retries=1, sleep=lambda _: None)
    return Embeddings(
        client, NAME, provider="tei", dimensions=None, events=storage.events, cache=EmbeddingCache(storage.conn)
    )


def _cached(storage: Storage) -> int:
    return storage.conn.execute("SELECT count(*) FROM embedding_cache").fetchone()[0]


@respx.mock
def test_another_model_of_the_same_size_under_the_same_name_is_refused_naming_both(storage: Storage) -> None:
    route = respx.post(f"{BASE}/embeddings").mock(side_effect=_Tei("BAAI/bge-small-en-v1.5", 0.5))
    _embeddings(storage).embed(["a setup embedded last week"])
    before = _cached(storage)

    route.side_effect = _Tei("sentence-transformers/all-MiniLM-L6-v2", -0.5)  # the container restarted on another
    with pytest.raises(EmbeddingModelChanged) as refused:
        _embeddings(storage).embed(["this week's setup"])

    said = str(refused.value)
    assert "sentence-transformers/all-MiniLM-L6-v2" in said and "BAAI/bge-small-en-v1.5" in said, said
    assert "models.yaml memory.embedding model 'bge-small'" in said and "llmtrade memory rebuild" in said, said
    assert _cached(storage) == before  # none of the other model's vectors kept
    [failed] = [EmbeddingCallFailed.from_event(e) for e in storage.events.read(type="EmbeddingCallFailed")]
    assert failed.error_type == "EmbeddingModelChanged" and failed.model == NAME


@respx.mock
def test_the_same_model_named_again_is_embedded_and_recorded_with_its_name(storage: Storage) -> None:
    respx.post(f"{BASE}/embeddings").mock(side_effect=_Tei("BAAI/bge-small-en-v1.5", 0.5))
    _embeddings(storage).embed(["first"])
    later = _embeddings(storage)
    later.embed(["second"])
    later.embed(["third"])
    assert EmbeddingCache(storage.conn).served(NAME) == {"BAAI/bge-small-en-v1.5"}
    done = [EmbeddingCallCompleted.from_event(e) for e in storage.events.read(type="EmbeddingCallCompleted")]
    assert [d.served_model for d in done] == ["BAAI/bge-small-en-v1.5"] * 3


@respx.mock
def test_a_reply_naming_no_model_is_taken_at_its_word(storage: Storage) -> None:
    # Vectors cached before the model was kept, or from a server whose reply names none: nothing to compare with.
    route = respx.post(f"{BASE}/embeddings").mock(side_effect=_Tei(None, 0.5))
    _embeddings(storage).embed(["unnamed"])
    route.side_effect = _Tei("BAAI/bge-small-en-v1.5", 0.5)
    _embeddings(storage).embed(["named"])
    assert EmbeddingCache(storage.conn).served(NAME) == {"BAAI/bge-small-en-v1.5"}
