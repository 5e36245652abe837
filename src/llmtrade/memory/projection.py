"""The memory's projection: the rows its tables hold for each *Remembered item, written by `project`.

memory/store.py appends the events and calls `project` in the same transaction (and `rebuild` replays the events
through it); the text each item's vector is made from is `item_text`'s.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from llmtrade.domain.memory import (
    ConditionRemembered,
    LessonRemembered,
    OutcomeRemembered,
    SetupRemembered,
    SymbolNoteRemembered,
)
from llmtrade.memory.embedder import Embedder
from llmtrade.memory.protocol import Remembered
from llmtrade.memory.similar import VectorBytes, teach_binary

if TYPE_CHECKING:
    import psycopg


class StoredIds:
    """The memory ids memory_items holds, for a database this process alone writes (a backtest's: its event store
    holds its appends, storage/sole_writer.py), shared by every PgMemory over it: the table is read once, and each
    `remember` that commits adds what it stored; a rebuild, or a `remember` whose commit is left to its caller,
    makes it read the table again. Saves `remember`'s look at the table (a round trip each, three a weekly run)
    and each job's look at the planner's estimate of the setups (PgMemory._index_pays: the count is known)."""

    def __init__(self) -> None:
        self._ids: set[str] | None = None
        self._setups = 0
        self._lock = threading.Lock()

    def among(self, conn: psycopg.Connection, ids: Iterable[str]) -> set[str]:
        """Those of `ids` stored."""
        with self._lock:
            held = self._held(conn)
            return {i for i in ids if i in held}

    def setups(self, conn: psycopg.Connection) -> int:
        """How many setups are stored."""
        with self._lock:
            self._held(conn)
            return self._setups

    def add(self, ids: Iterable[str]) -> None:
        """`ids` were stored (committed)."""
        with self._lock:
            if self._ids is not None:
                new = set(ids) - self._ids
                self._ids.update(new)
                self._setups += sum(i.startswith(_SETUP) for i in new)

    def forget(self) -> None:
        """Something may have changed that was not told: the table is read again."""
        with self._lock:
            self._ids = None

    def _held(self, conn: psycopg.Connection) -> set[str]:
        if self._ids is None:
            self._ids = {row[0] for row in conn.execute("SELECT memory_id FROM memory_items").fetchall()}
            self._setups = sum(i.startswith(_SETUP) for i in self._ids)
        return self._ids


_SETUP = "setup:"  # a setup's memory id starts with it (an outcome's is "outcome:" + its setup's)


def memory_id(item: Remembered) -> str:
    """The item's memory id; an outcome's is "outcome:" + its setup's."""
    match item:
        case ConditionRemembered():
            return item.condition.memory_id
        case SetupRemembered():
            return item.setup.memory_id
        case OutcomeRemembered():
            return f"outcome:{item.outcome.setup_id}"
        case LessonRemembered():
            return item.lesson.memory_id
        case SymbolNoteRemembered():
            return item.note.memory_id


def kind_and_part(item: Remembered) -> tuple[str, str]:
    """(kind in memory_items, the memory stream's part) of an item."""
    match item:
        case ConditionRemembered():
            return "condition", "condition"
        case SetupRemembered():
            return "setup", "pitches" if item.setup.source == "pitch" else "decision"
        case OutcomeRemembered():
            return "outcome", "outcomes"
        case LessonRemembered():
            return "lesson", "lessons"
        case SymbolNoteRemembered():
            return "symbol", "symbols"


def setup_text(thesis: str, indicators: Sequence[str], invalidation: str | None = None) -> str:
    """What a setup's text vector is made from: the thesis, then the indicators and the invalidation rule."""
    parts = [thesis.strip(), *indicators]
    if invalidation:
        parts.append(invalidation)
    return "\n".join(p for p in parts if p)


def item_text(item: Remembered) -> str | None:
    match item:
        case SetupRemembered():
            s = item.setup
            return setup_text(s.thesis, s.indicators, s.invalidation)
        case LessonRemembered():
            return item.lesson.text
        case SymbolNoteRemembered():
            return item.note.text
        case _:
            return None


def project(
    conn: psycopg.Connection,
    embedder: Embedder,
    batch: Sequence[tuple[Remembered, int]],
    vectors: dict[str, list[float]],
) -> None:
    """Insert the rows of `batch` ((item, its event id), in event order) on `conn`, inside the caller's
    transaction; `vectors` holds each text item's embedding by memory id (`embedder`'s model and size). Tables
    are filled in a fixed order (setups before outcomes), so an outcome finds its setup in the same batch, and a
    setup remembered after its outcome picks the outcome up from memory_outcomes."""
    # Only rows with text need the embedder's size (a configured model may learn it from a call).
    texts = any(isinstance(i, SetupRemembered | LessonRemembered | SymbolNoteRemembered) for i, _ in batch)
    model, dims = (embedder.model, embedder.dims) if texts else ("", 0)
    # Each row starts with its memory_items row's values (memory id, kind, event id): one statement writes both.
    rows: dict[str, list[tuple[Any, ...]]] = {k: [] for k in ("condition", "setup", "outcome", "lesson", "symbol")}
    for item, event_id in batch:
        kind, _ = kind_and_part(item)
        mid = memory_id(item)
        item_row = (mid, kind, event_id)
        match item:
            case ConditionRemembered():
                c = item.condition
                rows[kind].append(
                    (*item_row, mid, c.week_id, c.known_at, c.session, list(c.names), list(c.values), event_id)
                )
            case SetupRemembered():
                s = item.setup
                vector = VectorBytes.of(_need(vectors.get(mid), mid))
                record = _json(s.model_dump(mode="json"))
                rows[kind].append(
                    (*item_row, mid, s.week_id, s.known_at, s.source, s.author, s.account_id, s.instrument,
                     str(s.direction), s.conviction, record, vector, model, dims, event_id, mid)
                )  # fmt: skip
            case OutcomeRemembered():
                o = item.outcome
                rows[kind].append(
                    (*item_row, o.setup_id, o.known_at, _json(o.model_dump(mode="json")), o.week_return, event_id)
                )
            case LessonRemembered():
                lesson = item.lesson
                vector = VectorBytes.of(_need(vectors.get(mid), mid))
                rows[kind].append(
                    (*item_row, mid, lesson.week_id, lesson.known_at, lesson.account_id, lesson.instrument, lesson.text,
                     vector, model, dims, event_id)
                )  # fmt: skip
            case SymbolNoteRemembered():
                n = item.note
                vector = VectorBytes.of(_need(vectors.get(mid), mid))
                rows[kind].append(
                    (*item_row, mid, n.week_id, n.known_at, n.instrument, n.text, vector, model, dims, event_id)
                )
    # The vectors go in pgvector's binary form: the same float4 bits as the text form (test_memory_vectors), without
    # writing and parsing 256 reprs a row (~0.5 ms a row: a third of a weekly run's memory writes).
    teach_binary(conn)
    with conn.cursor() as cur:
        for kind, sql in _INSERTS:
            if rows[kind]:
                cur.executemany(sql, rows[kind])


# Each statement writes the memory_items row first (a data-modifying CTE runs whether or not it is read).
_ITEM = "WITH item AS (INSERT INTO memory_items (memory_id, kind, event_id) VALUES (%s, %s, %s)) "
_INSERTS = (
    (
        "condition",
        _ITEM
        + """INSERT INTO memory_conditions (memory_id, week_id, known_at, session, names, vals, event_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
    ),
    (
        "setup",
        _ITEM
        + """INSERT INTO memory_setups (memory_id, week_id, known_at, source, author, account_id, instrument,
               direction, conviction, record, embedding, embedding_model, embedding_dims, event_id,
               outcome, outcome_known_at, week_return, outcome_event_id)
           SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::vector, %s, %s, %s,
                  o.record, o.known_at, o.week_return, o.event_id
           FROM (SELECT 1) AS one LEFT JOIN memory_outcomes o ON o.setup_id = %s""",
    ),
    (
        "outcome",
        # The outcome is written, then copied to its setup's row when that is stored (in this batch, or before:
        # setups are written first). The UPDATE reads the inserted row from RETURNING: a statement's own inserts
        # are not in its snapshot.
        _ITEM
        + """, o AS (INSERT INTO memory_outcomes (setup_id, known_at, record, week_return, event_id)
                    VALUES (%s, %s, %s, %s, %s) RETURNING setup_id, known_at, record, week_return, event_id)
           UPDATE memory_setups s SET outcome = o.record, outcome_known_at = o.known_at,
                  week_return = o.week_return, outcome_event_id = o.event_id
           FROM o WHERE s.memory_id = o.setup_id""",
    ),
    (
        "lesson",
        _ITEM
        + """INSERT INTO memory_lessons (memory_id, week_id, known_at, account_id, instrument, text, embedding,
               embedding_model, embedding_dims, event_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s::vector, %s, %s, %s)""",
    ),
    (
        "symbol",
        _ITEM
        + """INSERT INTO memory_symbols (memory_id, week_id, known_at, instrument, text, embedding, embedding_model,
               embedding_dims, event_id)
           VALUES (%s, %s, %s, %s, %s, %s::vector, %s, %s, %s)""",
    ),
)


def _need(vector: list[float] | None, mid: str) -> list[float]:
    if vector is None:  # pragma: no cover - every text item is embedded before it is projected
        raise ValueError(f"{mid} has no vector")
    return vector


def _json(data: dict[str, Any]) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(data)
