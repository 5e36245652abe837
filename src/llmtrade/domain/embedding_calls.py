"""The records of embedding calls (llm/embeddings.py): apart from domain/events.py, which holds the chat calls'."""

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
    attempts: int
    batch_key: str  # sha256 of the model, dimensions and texts


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
