"""Vectors of another size than the memory expects, as local servers give them (respx at the transport).

Ollama, LM Studio and llama.cpp's server answer with the model's own size whatever `dimensions` asks, as does a model
without Matryoshka training; llama.cpp's server answers with whichever model it has loaded, whatever `model` names, and
a tag pulled anew may be another model. Both were refused naming only the sizes ("returned vectors of [768]
dimensions from X, expected 512"; "X returned 1024 dimensions, earlier vectors had 768"), not what to change: the same
refusal came back at every weekly run."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from llmtrade.llm.cached_embeddings import Embeddings
from llmtrade.llm.embeddings import EmbeddingClient, EmbeddingDimensionMismatch
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.memory_embedding_cache import EmbeddingCache

BASE = "http://127.0.0.1:11434/v1"
MODEL = "nomic-embed-text"


def _server(size: int):
    def answer(request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content)["input"]
        data = [{"index": i, "embedding": [0.5] + [0.25] * (size - 1)} for i in range(len(texts))]
        return httpx.Response(200, json={"data": data, "model": MODEL, "usage": {"prompt_tokens": 1}})

    return answer


def _embeddings(storage: Storage, dims: int | None) -> Embeddings:
    client = EmbeddingClient("ollama", BASE, None, max_retries=1, sleep=lambda _: None)
    return Embeddings(
        client, MODEL, provider="ollama", dimensions=dims, events=storage.events, cache=EmbeddingCache(storage.conn)
    )


@respx.mock
def test_a_server_that_ignores_dimensions_is_told_to_set_them_to_its_size(storage: Storage) -> None:
    respx.post(f"{BASE}/embeddings").mock(side_effect=_server(768))
    with pytest.raises(EmbeddingDimensionMismatch) as refused:
        _embeddings(storage, 512).embed(["a note"])
    said = str(refused.value)
    assert "[768]" in said and "expected 512" in said
    assert "models.yaml" in said and "memory.embedding" in said and "dimensions: 768" in said


@respx.mock
def test_another_model_behind_the_same_name_is_told_to_take_a_new_name_and_rebuild(storage: Storage) -> None:
    route = respx.post(f"{BASE}/embeddings").mock(side_effect=_server(768))
    assert _embeddings(storage, None).dims == 768  # a first run: its size learned, and cached with a probe text
    route.side_effect = _server(1024)  # another model loaded, answering to the same name
    later = _embeddings(storage, None)
    assert later.dims == 768  # from the cache
    with pytest.raises(EmbeddingDimensionMismatch) as refused:
        later.embed(["a new note"])
    said = str(refused.value)
    assert "1024" in said and "768" in said
    assert "model behind" in said and "new model name" in said and "llmtrade memory rebuild" in said
