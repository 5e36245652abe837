"""What a weekly run says of its memory: stored setups whose vectors another embedding model made.

Cosine distance between two models' vectors means nothing, so a setup's text is searched only against vectors of the
model the run embeds with (memory/similar.py); a change of `memory.embedding` leaves every setup stored before it
ranked by its numbers alone (instrument, direction, conviction, the week's condition) until `llmtrade memory rebuild`
re-embeds them. `memory search` and `memory stats` said so; the weekly run, which cron runs for months, did not: its
recall lost the text of every earlier week without a word. It says so now, at each run, as a warning (the run is not
degraded: it traded as designed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmtrade.config.models import ModelsConfig
from llmtrade.llm.gateway import LLMMode
from llmtrade.memory.embedder import PACKAGED_DIMS, PACKAGED_MODEL

if TYPE_CHECKING:
    import psycopg


def unsearched_note(models: ModelsConfig, mode: LLMMode, conn: psycopg.Connection) -> str | None:
    """The warning for the setups whose vectors another model (or size) made than the run's, else None. None when
    recall is off (`memory.enabled: false`) or when an offline run embeds with the packaged model in place of a
    configured one: that run's own choice, and a rebuild would make the configured model's setups the unsearched
    ones."""
    config = models.memory
    if not config.enabled or (config.embedding is not None and mode is LLMMode.OFFLINE):
        return None
    if config.embedding is None:  # the packaged model (app/memory_build.py `embeds_packaged`)
        model, dims = PACKAGED_MODEL, PACKAGED_DIMS
    else:
        model, dims = config.embedding.model, config.embedding.dimensions  # None: the model's own size, any
    rows = conn.execute(
        "SELECT embedding_model, embedding_dims, count(*) FROM memory_setups GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    other = [(m, d, n) for m, d, n in rows if m != model or (dims is not None and d != dims)]
    if not other:
        return None
    count = sum(n for _, _, n in other)
    made_by = ", ".join(f"{m} ({d} dimensions)" for m, d, _ in other)
    return (
        f"{count} remembered {'setup has' if count == 1 else 'setups have'} vectors from {made_by}, not {model} "
        f"(models.yaml memory.embedding): this run's similar-setups recall ranked them by instrument, direction, "
        f"conviction and market condition alone, not by their text; `llmtrade memory rebuild` re-embeds them with "
        f"{model}"
    )
