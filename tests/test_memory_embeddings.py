"""embed() against an OpenAI-compatible /embeddings endpoint (respx): vectors, every error shape, what is recorded."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from llmtrade.domain.embedding_calls import EmbeddingCallCompleted, EmbeddingCallFailed
from llmtrade.errors import LLMRateLimited, LLMRequestRejected, LLMUnavailable, ReplayMiss
from llmtrade.llm.cached_embeddings import Embeddings
from llmtrade.llm.embeddings import EmbeddingClient, EmbeddingDimensionMismatch, EmbeddingMalformed
from llmtrade.reply_errors import LLMContextExceeded
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.memory_embedding_cache import EmbeddingCache

BASE = "https://embed.test/api/v1"
MODEL = "openai/text-embedding-3-small"


def _ok(texts: list[str], dims: int = 4, *, reverse: bool = False) -> dict:
    data = [
        {"object": "embedding", "index": i, "embedding": [0.5 + i, 0.25, -0.125, 1.0][:dims]} for i in range(len(texts))
    ]
    if reverse:
        data.reverse()
    return {
        "object": "list",
        "data": data,
        "model": MODEL,
        "usage": {"prompt_tokens": 7, "total_tokens": 7, "cost": 1e-6},
    }


def _embeddings(storage: Storage, *, dims: int | None = 4, retries: int = 2, replay: bool = False) -> Embeddings:
    client = EmbeddingClient("openrouter", BASE, "key", max_retries=retries, sleep=lambda _: None)
    return Embeddings(
        client,
        MODEL,
        provider="openrouter",
        dimensions=dims,
        events=storage.events,
        cache=EmbeddingCache(storage.conn),
        run_id="run-1",
        replay=replay,
    )


def _recorded(storage: Storage, cls: type) -> list:
    return [cls.from_event(e) for e in storage.events.read(type=cls.event_type())]


@respx.mock
def test_vectors_come_back_in_input_order_cached_and_recorded(storage: Storage) -> None:
    route = respx.post(f"{BASE}/embeddings").mock(
        side_effect=lambda request: httpx.Response(200, json=_ok(["a", "b"], reverse=True))
    )
    embeddings = _embeddings(storage)
    first = embeddings.embed(["a", "b"])
    assert first == [[0.5, 0.25, -0.125, 1.0], [1.5, 0.25, -0.125, 1.0]]
    sent = route.calls[0].request
    assert sent.headers["authorization"] == "Bearer key"
    body = json.loads(sent.content)  # as the provider reads it: httpx before 0.28 spaced its JSON
    assert body["dimensions"] == 4 and body["encoding_format"] == "float"
    assert embeddings.embed(["a", "b"]) == first  # from the cache: no second request
    assert route.call_count == 1
    calls = _recorded(storage, EmbeddingCallCompleted)
    assert [(c.source, c.inputs, c.cached, c.dimensions, c.prompt_tokens) for c in calls] == [
        ("live", 2, 0, 4, 7),
        ("cache", 2, 2, 4, 0),
    ]
    assert calls[0].cost_usd == pytest.approx(1e-6)


@respx.mock
def test_a_refusal_with_openrouter_metadata_is_rejected_at_once_with_the_upstream_reason(storage: Storage) -> None:
    route = respx.post(f"{BASE}/embeddings").mock(
        return_value=httpx.Response(
            400,
            json={
                "error": {
                    "code": 400,
                    "message": "Provider returned error",
                    "metadata": {
                        "provider_name": "OpenAI",
                        "raw": "This model's maximum context length is 8192 tokens",
                    },
                }
            },
        )
    )
    with pytest.raises(LLMContextExceeded, match="maximum context length"):
        _embeddings(storage).embed(["a"])
    assert route.call_count == 1
    (failed,) = _recorded(storage, EmbeddingCallFailed)
    assert failed.error_type == "LLMContextExceeded" and "upstream provider OpenAI" in failed.error


@respx.mock
def test_a_bad_key_401_is_rejected_at_once(storage: Storage) -> None:
    respx.post(f"{BASE}/embeddings").mock(
        return_value=httpx.Response(
            401, json={"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
        )
    )
    with pytest.raises(LLMRequestRejected, match="Incorrect API key"):
        _embeddings(storage).embed(["a"])


@respx.mock
def test_429_then_success_is_retried(storage: Storage) -> None:
    route = respx.post(f"{BASE}/embeddings").mock(
        side_effect=[
            httpx.Response(
                429, json={"error": {"message": "Rate limit reached", "code": 429}}, headers={"retry-after": "1"}
            ),
            httpx.Response(200, json=_ok(["a"])),
        ]
    )
    assert len(_embeddings(storage).embed(["a"])) == 1
    assert route.call_count == 2
    (done,) = _recorded(storage, EmbeddingCallCompleted)
    assert done.attempts == 2


@respx.mock
def test_a_daily_quota_429_fails_at_once_as_temporary(storage: Storage) -> None:
    route = respx.post(f"{BASE}/embeddings").mock(
        return_value=httpx.Response(429, json={"error": {"message": "You exceeded your current quota", "code": 429}})
    )
    with pytest.raises(LLMRateLimited):
        _embeddings(storage).embed(["a"])
    assert route.call_count == 1
    assert _recorded(storage, EmbeddingCallFailed)[0].error_type == "LLMRateLimited"


@respx.mock
def test_5xx_every_time_ends_unavailable_after_the_retries(storage: Storage) -> None:
    route = respx.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(503, text="upstream connect error"))
    with pytest.raises(LLMUnavailable, match="3 attempt"):
        _embeddings(storage, retries=2).embed(["a"])
    assert route.call_count == 3
    assert _recorded(storage, EmbeddingCallFailed)[0].error_type == "LLMUnavailable"


@respx.mock
def test_an_upstream_error_inside_a_200_is_retried_then_unavailable(storage: Storage) -> None:
    respx.post(f"{BASE}/embeddings").mock(
        return_value=httpx.Response(200, json={"error": {"code": 502, "message": "Upstream error"}})
    )
    with pytest.raises(LLMUnavailable, match="Upstream error"):
        _embeddings(storage, retries=1).embed(["a"])


@pytest.mark.parametrize(
    "body",
    [
        {"object": "list", "data": []},
        {"object": "list"},
        {"object": "list", "data": [{"index": 0, "embedding": "AAAA"}]},
        {"object": "list", "data": [{"index": 0, "embedding": [0.1, None]}]},
        {"object": "list", "data": [{"index": 5, "embedding": [0.1, 0.2, 0.3, 0.4]}]},
        [1, 2, 3],
    ],
    ids=["empty", "no-data", "base64", "null-value", "bad-index", "not-an-object"],
)
@respx.mock
def test_a_malformed_body_is_a_typed_error_and_recorded(storage: Storage, body: object) -> None:
    route = respx.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(EmbeddingMalformed):
        _embeddings(storage).embed(["a"])
    assert route.call_count == 1
    assert _recorded(storage, EmbeddingCallFailed)[0].error_type == "EmbeddingMalformed"


@respx.mock
def test_a_body_that_is_not_json_is_retried_as_temporary(storage: Storage) -> None:
    respx.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(200, text="<html>gateway</html>"))
    with pytest.raises(LLMUnavailable, match="not JSON"):
        _embeddings(storage, retries=1).embed(["a"])


@respx.mock
def test_the_wrong_dimension_count_is_refused_and_nothing_is_cached(storage: Storage) -> None:
    respx.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(200, json=_ok(["a"], dims=3)))
    with pytest.raises(EmbeddingDimensionMismatch, match=r"\[3\].*expected 4"):
        _embeddings(storage, dims=4).embed(["a"])
    assert storage.conn.execute("SELECT count(*) FROM embedding_cache").fetchone()[0] == 0
    assert _recorded(storage, EmbeddingCallFailed)[0].error_type == "EmbeddingDimensionMismatch"


@respx.mock
def test_a_model_that_changes_size_between_calls_is_refused(storage: Storage) -> None:
    respx.post(f"{BASE}/embeddings").mock(
        side_effect=[httpx.Response(200, json=_ok(["a"], dims=4)), httpx.Response(200, json=_ok(["b"], dims=3))]
    )
    embeddings = _embeddings(storage, dims=None)
    embeddings.embed(["a"])
    assert embeddings.dims == 4
    with pytest.raises(EmbeddingDimensionMismatch):
        embeddings.embed(["b"])


@respx.mock
def test_replay_answers_from_the_cache_and_misses_loudly(storage: Storage) -> None:
    respx.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(200, json=_ok(["a"])))
    live = _embeddings(storage).embed(["a"])
    replay = _embeddings(storage, replay=True)
    assert replay.embed(["a"]) == live
    with pytest.raises(ReplayMiss):
        replay.embed(["never embedded"])


def _hashed_vectors(request: httpx.Request) -> httpx.Response:
    """A stand-in model: 4 numbers per text from its hash, so the same text always gets the same vector."""
    import hashlib
    import json

    texts = json.loads(request.content)["input"]
    data = []
    for i, text in enumerate(texts):
        digest = hashlib.sha256(text.encode()).digest()
        data.append({"index": i, "embedding": [b / 255 - 0.5 for b in digest[:4]]})
    return httpx.Response(200, json={"data": data, "usage": {"prompt_tokens": len(texts)}})


@respx.mock
def test_a_model_change_is_applied_by_rebuild_and_searched_exactly(storage: Storage) -> None:
    import random
    from datetime import date, timedelta

    from llmtrade.memory.embedder import PACKAGED_MODEL, PackagedEmbedder
    from llmtrade.memory.protocol import SetupQuery
    from llmtrade.memory.store import PgMemory
    from tests.test_memory_store import _friday, week_items

    route = respx.post(f"{BASE}/embeddings").mock(side_effect=_hashed_vectors)
    weeks = [date(2024, 1, 3) + timedelta(weeks=i) for i in range(4)]
    packaged = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    rng = random.Random(9)
    for week_id in weeks:
        packaged.remember(week_items(week_id, rng), week_id=week_id, run_id=None)
    remote = PgMemory(storage.conn, storage.events, _embeddings(storage, dims=4))
    query = SetupQuery(instrument="SPY", direction="LONG", conviction=1, thesis="momentum breakout")
    as_of = _friday(weeks[-1]) + timedelta(days=1)
    before = remote.similar_setups(query, as_of=as_of, limit=50)
    # Only vectors of the current model are searched: before the rebuild only the numeric part (SPY) answers.
    assert before and all(h.setup is not None and h.setup.instrument == "SPY" for h in before)
    assert len(packaged.similar_setups(query, as_of=as_of, limit=50)) == 12
    vectors = "SELECT count(*) FROM memory_setup_vectors"  # the HNSW search's copy: 256 dimensions only
    assert storage.conn.execute(vectors).fetchone()[0] == 12
    remote.rebuild()
    models = storage.conn.execute("SELECT DISTINCT embedding_model, embedding_dims FROM memory_setups").fetchall()
    assert models == [(MODEL, 4)] and PACKAGED_MODEL not in str(models)
    assert storage.conn.execute(vectors).fetchone()[0] == 0
    after = remote.similar_setups(query, as_of=as_of, limit=50)
    assert len(after) == 12 > len(before)  # every setup, through the exact text search over 4-dim vectors
    calls = route.call_count
    remote.rebuild()  # every text is cached now: a second rebuild costs no call
    assert route.call_count == calls
