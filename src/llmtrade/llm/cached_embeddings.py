"""`Embeddings`: the memory's Embedder for a configured model, over llm/embeddings.py's EmbeddingClient.

It adds the per-text cache (storage/memory_embedding_cache.py) and records every batch as EmbeddingCallCompleted /
EmbeddingCallFailed; in replay mode it answers from the cache only (ReplayMiss otherwise). A reply naming another
model than made the name's cached vectors is EmbeddingModelChanged, one of another size than the name's earlier
vectors EmbeddingDimensionMismatch (llm/embedding_identity.py); both are recorded as failed, and so is every error
EmbeddingClient.post raises, before it is raised again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from llmtrade.domain.embedding_calls import EmbeddingCallCompleted, EmbeddingCallFailed
from llmtrade.domain.events import EventSink, NewEvent
from llmtrade.domain.streams import llm_stream
from llmtrade.errors import LLMRequestRejected, LLMUnavailable, ReplayMiss
from llmtrade.llm.embedding_identity import (
    ANOTHER_MODEL,
    EmbeddingDimensionMismatch,
    EmbeddingModelChanged,
    another_model,
    text_key,
)
from llmtrade.llm.embedding_vectors import EmbeddingMalformed
from llmtrade.llm.embeddings import EmbeddingClient, EmbeddingReply
from llmtrade.reply_errors import LLMContextExceeded
from llmtrade.storage.memory_embedding_cache import EmbeddingCache


class Embeddings:
    """`embed()` for the memory: a configured model's vectors, cached per text and recorded per batch.

    `replay=True` answers only from the cache (ReplayMiss for a text it does not hold)."""

    def __init__(
        self,
        client: EmbeddingClient | None,
        model: str,
        *,
        provider: str,
        dimensions: int | None,
        events: EventSink,
        cache: EmbeddingCache,
        run_id: str | None = None,
        role: str = "memory",
        replay: bool = False,
    ):
        self._client = client
        self.model = model
        self._provider = provider
        self._dimensions = dimensions
        self._events = events
        self._cache = cache
        self._stream = llm_stream(run_id or "memory")
        self._run_id = run_id
        self._role = role
        self._replay = replay
        self._dims: int | None = dimensions
        self._served: set[str] | None = None  # the models the cache says made the name's vectors, read once

    @property
    def dims(self) -> int:
        """The vectors' size: as configured, else learned from the model (one probe text, cached)."""
        if self._dims is None:
            self._dims = len(self.embed(["dimension probe"])[0])
        return self._dims

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order. Raises what EmbeddingClient.post raises, or ReplayMiss."""
        if not texts:
            return []
        keys = [text_key(self.model, self._dimensions, t) for t in texts]
        batch_key = hashlib.sha256("".join(keys).encode()).hexdigest()
        held = self._cache.get_many(keys)
        missing = [i for i, k in enumerate(keys) if k not in held]
        chars = sum(len(t) for t in texts)
        reply: EmbeddingReply | None = None
        if missing:
            if self._replay or self._client is None:
                raise ReplayMiss(
                    f"--replay: no cached vector from {self.model} for {len(missing)} of {len(texts)} text(s); "
                    "run live once first, or drop --replay"
                )
            try:
                reply = self._client.post(self.model, [texts[i] for i in missing], dimensions=self._dimensions)
                if self._dims is not None and {len(v) for v in reply.vectors} != {self._dims}:
                    raise EmbeddingDimensionMismatch(
                        f"{self.model} returned {len(reply.vectors[0])} dimensions, earlier vectors had {self._dims}: "
                        f"{ANOTHER_MODEL}"
                    )
                if reply.served and self._served is None:
                    self._served = self._cache.served(self.model)  # once: a live reply's own cost beside it
                changed = another_model(self.model, self._provider, reply.served, self._served or ())
                if changed is not None:
                    raise changed
            # A text past the model's input length is a 400 context error (http_errors.refusal): recorded too.
            except (
                LLMUnavailable,
                LLMRequestRejected,
                LLMContextExceeded,
                EmbeddingMalformed,
                EmbeddingDimensionMismatch,
                EmbeddingModelChanged,
            ) as exc:
                self._append(self._failed(texts, chars, batch_key, exc, reply))
                raise
            fresh = {keys[i]: v for i, v in zip(missing, reply.vectors, strict=True)}
            old = {len(v) for v in held.values()} - {len(reply.vectors[0])}
            if old:
                # Cached vectors of this model name in another size: the model behind the name changed.
                exc = EmbeddingDimensionMismatch(
                    f"{self.model} now answers {len(reply.vectors[0])} dimensions, but vectors cached from it "
                    f"earlier have {sorted(old)}: {ANOTHER_MODEL}"
                )
                self._append(self._failed(texts, chars, batch_key, exc, reply))
                raise exc
            served = reply.served[0] if reply.served else None
            self._cache.put_many(self.model, len(reply.vectors[0]), fresh, served=served)
            if served is not None and self._served is not None:
                self._served.add(served)
            held.update(fresh)
        vectors = [held[k] for k in keys]
        self._append(
            EmbeddingCallCompleted(
                role=self._role,
                provider=self._provider,
                model=self.model,
                source="live" if reply else "cache",
                inputs=len(texts),
                cached=len(texts) - len(missing),
                input_chars=chars,
                dimensions=len(vectors[0]),
                prompt_tokens=reply.prompt_tokens if reply else 0,
                cost_usd=reply.cost_usd if reply else 0.0,
                latency_ms=reply.latency_ms if reply else 0.0,
                attempts=reply.attempts if reply else 0,
                truncated=reply.truncated if reply else 0,
                batch_key=batch_key,
                served_model=reply.served[0] if reply and reply.served else None,
            )
        )
        if self._dims is None:
            self._dims = len(vectors[0])
        return vectors

    def _failed(
        self, texts: Sequence[str], chars: int, batch_key: str, exc: Exception, reply: EmbeddingReply | None
    ) -> EmbeddingCallFailed:
        return EmbeddingCallFailed(
            role=self._role,
            provider=self._provider,
            model=self.model,
            inputs=len(texts),
            input_chars=chars,
            error_type=type(exc).__name__,
            error=str(exc),
            batch_key=batch_key,
            # The requests sent: the reply's refused here, else set on what EmbeddingClient.post raised.
            attempts=reply.attempts if reply is not None else getattr(exc, "attempts", 0),
        )

    def _append(self, payload: EmbeddingCallCompleted | EmbeddingCallFailed) -> None:
        self._events.append([NewEvent.of(payload, stream=self._stream, run_id=self._run_id)])
