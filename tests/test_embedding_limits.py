"""An /embeddings server's limits on one request, as real servers refuse them (respx at the transport).

Servers that take an input of a few hundred tokens (vLLM or TEI serving bge or MiniLM: 512) refuse a longer one:
vLLM with a 400 "This model's maximum context length is 512 tokens. However, you requested 1451 tokens in the
input for embedding generation" (vllm-project/vllm issue 19798), TEI with a 413 "Input validation error: `inputs`
must have less than 512 tokens. Given: 534" (text-embeddings-inference issue 356), OpenAI with a 400 "This model's
maximum context length is 8192 tokens, however you requested ...", Ollama (truncate false) with a 400 "the input
length exceeds the context length". A research pack's note on an instrument runs to a few thousand characters: the
weekly run failed at remember_research (exit 1, advising memory.token_budget and max_tokens, which do not bear on
it), and so did every rerun, every week."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
import respx

from llmtrade.domain.embedding_calls import EmbeddingCallCompleted
from llmtrade.errors import LLMRequestRejected
from llmtrade.llm.cached_embeddings import Embeddings
from llmtrade.llm.embeddings import EmbeddingClient
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.memory_embedding_cache import EmbeddingCache

BASE = "http://127.0.0.1:8000/v1"
MODEL = "BAAI/bge-small-en-v1.5"
LIMIT = 64  # the fake model's input length, in tokens (a token a word here)


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [b / 255 - 0.5 for b in digest[:4]]


def _tokens(text: str) -> int:
    return len(text.split())


class Server:
    """A model behind an OpenAI-compatible route that refuses an input past LIMIT tokens as `kind` does."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.seen: list[list[str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content)["input"]
        self.seen.append(texts)
        longest = max(_tokens(t) for t in texts)
        if longest > LIMIT:
            return self._refused(longest)
        data = [{"object": "embedding", "index": i, "embedding": _vector(t)} for i, t in enumerate(texts)]
        return httpx.Response(200, json={"data": data, "usage": {"prompt_tokens": sum(map(_tokens, texts))}})

    def _refused(self, asked: int) -> httpx.Response:
        if self.kind == "vllm":
            message = (
                f"This model's maximum context length is {LIMIT} tokens. However, you requested {asked} tokens in the "
                "input for embedding generation. Please reduce the length of the input."
            )
            return httpx.Response(
                400, json={"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400}
            )
        if self.kind == "tei":
            message = f"Input validation error: `inputs` must have less than {LIMIT} tokens. Given: {asked}"
            return httpx.Response(413, json={"message": message, "code": 413, "type": "Validation"})
        if self.kind == "openai":
            message = (
                f"This model's maximum context length is {LIMIT} tokens, however you requested {asked} tokens "
                f"({asked} in your prompt; 0 for the completion). Please reduce your prompt; or completion length."
            )
            error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
            return httpx.Response(400, json={"error": error})
        error = {"message": "the input length exceeds the context length", "type": "invalid_request_error"}
        return httpx.Response(400, json={"error": error})  # Ollama: no numbers


def _embeddings(storage: Storage) -> Embeddings:
    client = EmbeddingClient("local", BASE, None, max_retries=2, sleep=lambda _: None)
    return Embeddings(
        client, MODEL, provider="local", dimensions=None, events=storage.events, cache=EmbeddingCache(storage.conn)
    )


def _note(words: int) -> str:
    return " ".join(f"w{i}" for i in range(words))


@pytest.mark.parametrize("kind", ["vllm", "tei", "openai", "ollama"])
@respx.mock
def test_an_input_past_the_models_length_is_embedded_cut_to_fit(storage: Storage, kind: str) -> None:
    server = Server(kind)
    respx.post(f"{BASE}/embeddings").mock(side_effect=server)
    long = _note(150)
    texts = ["a short note", long, "another short one"]
    vectors = _embeddings(storage).embed(texts)
    assert vectors[0] == pytest.approx(_vector(texts[0])) and vectors[2] == pytest.approx(_vector(texts[2]))
    cut = [t for batch in server.seen for t in batch if long.startswith(t) and t != long]
    assert cut and _tokens(cut[-1]) <= LIMIT
    assert vectors[1] == pytest.approx(_vector(cut[-1]))  # the vector of the text's start that fits
    (done,) = [EmbeddingCallCompleted.from_event(e) for e in storage.events.read(type="EmbeddingCallCompleted")]
    assert done.inputs == 3 and done.truncated == 1 and done.attempts == len(server.seen)
    # Cached under the whole text: asked again, nothing is sent.
    sent = len(server.seen)
    assert _embeddings(storage).embed([long])[0] == pytest.approx(vectors[1])
    assert len(server.seen) == sent


@respx.mock
def test_any_other_refusal_is_still_final_at_once(storage: Storage) -> None:
    route = respx.post(f"{BASE}/embeddings").mock(
        return_value=httpx.Response(400, json={"error": {"message": "model 'nope' not found", "type": "bad"}})
    )
    with pytest.raises(LLMRequestRejected, match="not found"):
        _embeddings(storage).embed(["a", "b"])
    assert route.call_count == 1


# How servers refuse a batch of more inputs (or tokens together) than they take, the limit at which each does: TEI's
# --max-client-batch-size (32 by default, 413: text-embeddings-inference issue 378), Azure OpenAI's 16 inputs of its
# early deployments, DashScope's 10 (memodb-io/memobase issue 142), OpenAI's 300,000 tokens a request
# (spiceai/spiceai issue 6142), and a proxy's body limit (a bare 413).
def _batch_refusal(kind: str, texts: list[str]) -> httpx.Response | None:
    n = len(texts)
    if kind == "tei" and n > 32:
        message = f"Input validation error: batch size {n} > maximum allowed batch size 32"
        return httpx.Response(413, json={"message": message, "code": 413, "type": "Validation"})
    if kind == "azure" and n > 16:
        message = (
            "Too many inputs. The max number of inputs is 16.  We hope to increase the number of inputs per request "
            "soon. Please contact us through an Azure support request for further questions."
        )
        return httpx.Response(400, json={"error": {"message": message, "type": "invalid_request_error"}})
    if kind == "dashscope" and n > 10:
        message = (
            "<400> InternalError.Algo.InvalidParameter: Value error, batch size is invalid, it should not be larger "
            "than 10.: input.contents"
        )
        return httpx.Response(400, json={"error": {"message": message, "type": "InvalidParameter"}})
    tokens = sum(map(_tokens, texts))
    if kind == "openai" and tokens > 300:  # 300,000 at OpenAI: a tenth of a thousandth here
        message = f"Requested {tokens} tokens, max 300 tokens per request"
        error = {"message": message, "type": "max_tokens_per_request", "code": "max_tokens_per_request"}
        return httpx.Response(400, json={"error": error})
    if kind == "proxy" and n > 8:
        return httpx.Response(413, text="<html><h1>413 Request Entity Too Large</h1></html>")
    return None


@pytest.mark.parametrize(
    ("kind", "most"), [("tei", 32), ("azure", 16), ("dashscope", 10), ("openai", 13), ("proxy", 8)]
)
@respx.mock
def test_a_batch_past_the_servers_limit_is_sent_in_smaller_ones(storage: Storage, kind: str, most: int) -> None:
    """`memory rebuild` after a change of model embeds every stored text, 256 to a request."""
    server = Server("vllm")
    sent: list[int] = []
    taken: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content)["input"]
        sent.append(len(texts))
        refused = _batch_refusal(kind, texts)
        if refused is None:
            taken.append(len(texts))
        return refused or server(request)

    respx.post(f"{BASE}/embeddings").mock(side_effect=answer)
    texts = [f"setup {i}: " + _note(20) for i in range(100)]  # 22 tokens each
    embeddings = _embeddings(storage)
    vectors = embeddings.embed(texts)
    assert vectors == [pytest.approx(_vector(t)) for t in texts]
    assert sum(taken) == 100 and max(taken) <= most
    if kind in ("tei", "azure", "dashscope"):  # the limit named: one refusal, then batches within it, and later too
        assert sent[1:] == [most] * (100 // most) + ([100 % most] if 100 % most else [])
        sent.clear()
        embeddings.embed([f"later {i}: " + _note(20) for i in range(40)])
        assert sent == [most] * (40 // most) + ([40 % most] if 40 % most else [])


@respx.mock
def test_a_single_input_a_batch_limit_refuses_is_final(storage: Storage) -> None:
    route = respx.post(f"{BASE}/embeddings").mock(
        return_value=httpx.Response(
            400, json={"error": {"message": "Requested 900 tokens, max 300 tokens per request"}}
        )
    )
    with pytest.raises(LLMRequestRejected, match="max 300 tokens per request"):
        _embeddings(storage).embed(["one"])
    assert route.call_count == 1


@respx.mock
def test_memory_rebuild_after_a_change_of_model_reembeds_through_teis_default_batch_limit(storage: Storage) -> None:
    import random
    from datetime import date, timedelta

    from llmtrade.memory.embedder import PackagedEmbedder
    from llmtrade.memory.store import PgMemory
    from tests.test_memory_store import week_items

    rng = random.Random(4)
    packaged = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    for week in range(12):
        week_id = date(2024, 1, 3) + timedelta(weeks=week)
        packaged.remember(week_items(week_id, rng), week_id=week_id, run_id=None)
    server = Server("tei")
    sent: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content)["input"]
        sent.append(len(texts))
        return _batch_refusal("tei", texts) or server(request)

    respx.post(f"{BASE}/embeddings").mock(side_effect=answer)
    counts = PgMemory(storage.conn, storage.events, _embeddings(storage)).rebuild()
    assert counts.setups == 36 and sent[0] > 32 and max(sent[1:]) <= 32
    models = storage.conn.execute("SELECT DISTINCT embedding_model FROM memory_setups").fetchall()
    assert models == [(MODEL,)]
