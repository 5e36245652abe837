"""Which Memory a run gets: none when models.yaml switches it off, else PgMemory with the right embedder.

The embedder: the packaged offline model (memory/embedder.py) when no embedding model is configured or the
run is offline; otherwise the configured OpenAI-compatible model (llm/embeddings.py), live, or from its cache
in replay mode. Vectors are searched only against vectors of the same model, so an offline run over a memory
embedded by a remote model ranks setups by the numeric part alone; `memory rebuild` re-embeds everything
with the embedder the invocation has.
"""

from __future__ import annotations

from llmtrade.config.models import ModelsConfig
from llmtrade.config.sections import MemoryConfig
from llmtrade.llm.cached_embeddings import Embeddings
from llmtrade.llm.embeddings import EmbeddingClient
from llmtrade.llm.gateway import LLMMode
from llmtrade.memory.embedder import Embedder, PackagedEmbedder
from llmtrade.memory.held_setups import HeldSetups
from llmtrade.memory.history import ConditionHistory
from llmtrade.memory.projection import StoredIds
from llmtrade.memory.store import PgMemory
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.memory_embedding_cache import EmbeddingCache


def build_memory(
    models: ModelsConfig,
    storage: Storage,
    settings: Settings,
    mode: LLMMode,
    *,
    run_id: str | None = None,
    history: ConditionHistory | None = None,
    stored_ids: StoredIds | None = None,
    held: HeldSetups | None = None,
) -> PgMemory | None:
    """None when `models.memory.enabled` is false; `history`, `stored_ids`, `held`: held across memories (PgMemory)."""
    if not models.memory.enabled:
        return None
    embedder = embedder_for(models, storage, settings, mode, run_id=run_id)
    return PgMemory(storage.conn, storage.events, embedder, history=history, stored_ids=stored_ids, held=held)


def embedder_for(
    models: ModelsConfig,
    storage: Storage,
    settings: Settings,
    mode: LLMMode,
    *,
    run_id: str | None = None,
    warm: bool = True,
) -> Embedder:
    """`warm=False`: the packaged model is loaded by the first embed only (a command that may never embed)."""
    config: MemoryConfig = models.memory
    chosen = config.embedding
    if chosen is None or embeds_packaged(config, mode):  # `chosen is None` again: for the type checker
        return PackagedEmbedder(warm=warm)
    client = None
    if mode is LLMMode.LIVE:
        provider = models.providers[chosen.provider]
        key = settings.llm_api_key or (settings.secret(provider.api_key_env) if provider.api_key_env else None)
        client = EmbeddingClient(
            chosen.provider,
            settings.llm_base_url or str(provider.base_url),
            key,
            timeout_seconds=provider.timeout_seconds,
            max_retries=provider.max_retries,
            max_retry_after_seconds=provider.max_retry_after_seconds,
            attempt_floor_seconds=provider.attempt_floor_seconds,
        )
    return Embeddings(
        client,
        chosen.model,
        provider=chosen.provider,
        dimensions=chosen.dimensions,
        events=storage.events,
        cache=EmbeddingCache(storage.conn),
        run_id=run_id,
        replay=mode is LLMMode.REPLAY,
    )


def warm_embedder(models: ModelsConfig, mode: LLMMode) -> None:
    """Start loading the packaged model now (memory/embedder.py: on a thread, once per process) when the memory is on
    and embeds with it: for a command with a stretch of waiting before its first embed (a backtest creating and
    migrating its database), which the load then fills, rather than the first job's memory."""
    if models.memory.enabled and embeds_packaged(models.memory, mode):
        PackagedEmbedder(warm=True)


def embeds_packaged(config: MemoryConfig, mode: LLMMode) -> bool:
    """Whether the memory embeds with the packaged offline model: no embedding model configured, or an offline run."""
    return config.embedding is None or mode is LLMMode.OFFLINE
