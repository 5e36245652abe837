"""The records of embedding calls (llm/cached_embeddings.py): apart from domain/events.py, the chat calls'."""

from __future__ import annotations

from llmtrade.domain.events import EventPayload


class EmbeddingCallCompleted(EventPayload):
    """One batch of texts turned into vectors by an OpenAI-compatible `/embeddings` model (llm/embeddings.py),
    live or from the cache (`cached` of the `inputs` texts came from it; `source` "cache" when all did)."""

    role: str
    provider: str
    model: str
    source: str  # live | cache
    inputs: int
    cached: int
    input_chars: int
    dimensions: int
    prompt_tokens: int
    cost_usd: float | None
    latency_ms: float
    attempts: int  # requests sent, each retry and each refused for an input's length counted
    batch_key: str  # sha256 of the model, dimensions and texts
    # Inputs past the model's input length (the server refused them), embedded cut to fit: their vectors are of
    # the text's start (llm/embedding_fit.py).
    truncated: int = 0
    # The model the server's reply named (llm/embedding_identity.py); None from the cache, or a reply naming none.
    served_model: str | None = None


class EmbeddingCallFailed(EventPayload):
    """A batch of texts that got no usable vectors (after every retry): refused, malformed, wrong size."""

    role: str
    provider: str
    model: str
    inputs: int
    input_chars: int
    error_type: str
    error: str
    batch_key: str
    attempts: int = 0
