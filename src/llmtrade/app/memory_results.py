"""The `memory` commands' results. Frozen, like every result; `--json` is their dump and DOCUMENTS publishes
their schemas (`llmtrade schema memory search`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from llmtrade.app.results import Result
from llmtrade.domain.memory import Lesson, MarketCondition, Outcome, Recollection, Setup, SymbolNote


class MemorySearch(Result):
    """`memory search`: the hits of one point-in-time search, best first. `by` "text" ranks past setups like
    the text (fused with the numeric ranking when an instrument is given); "week" ranks past weeks' market
    conditions like the week's. Only memories known before `as_of` are searched."""

    by: Literal["text", "week"]
    query: str
    as_of: datetime
    embedding_model: str
    hits: list[Recollection]
    enabled: bool = True  # models.yaml memory.enabled: false, the committee neither remembers nor recalls
    # By text: setup vectors another model (or size) made, which are not searched until `memory rebuild`.
    unsearched: int = 0
    unsearched_models: tuple[str, ...] = ()
    # By week: how many weeks' conditions were known by `as_of` to compare with. Each feature is scaled by its spread
    # over them (memory/history.py), so fewer than 2 give no distance: none matches, and that is why.
    weeks_known: int | None = None


class MemoryShown(Result):
    """`memory show ID`: one memory as stored, with the id of the event it came from. Exactly one of
    setup / condition / lesson / note is set (by `kind`); a setup carries its outcome once known and the
    lessons of its account's week."""

    memory_id: str
    kind: Literal["setup", "outcome", "condition", "lesson", "symbol"]
    event_id: int
    setup: Setup | None = None
    outcome: Outcome | None = None
    lessons: tuple[str, ...] = ()
    condition: MarketCondition | None = None
    lesson: Lesson | None = None
    note: SymbolNote | None = None


class EmbeddingUse(Result):
    table: str
    model: str
    dimensions: int
    rows: int
    current: bool  # made by the embedder this invocation uses; false: `memory rebuild` re-embeds


class MemoryStats(Result):
    """`memory stats`: rows per kind, the weeks covered, which models made the stored vectors."""

    conditions: int
    setups: int
    setups_with_outcome: int
    outcomes: int
    lessons: int
    symbol_notes: int
    events: int  # *Remembered events stored (the source the tables are rebuilt from)
    first_week: date | None
    last_week: date | None
    embedder: str  # the model this invocation embeds with
    embeddings: list[EmbeddingUse]
    enabled: bool  # models.yaml memory.enabled


class MemoryRebuilt(Result):
    """`memory rebuild`: rows written from the events, with which embedder, in how long."""

    conditions: int
    setups: int
    outcomes: int
    lessons: int
    symbol_notes: int
    embedding_model: str
    dimensions: int
    seconds: float


DOCUMENTS: dict[str, Any] = {
    "memory search": MemorySearch,
    "memory show": MemoryShown,
    "memory stats": MemoryStats,
    "memory rebuild": MemoryRebuilt,
}
