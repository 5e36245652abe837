"""A backtest's memory reads, answered once per set of visible memories instead of once per checkpoint.

Every recall is point-in-time by one rule (memory/protocol.py): a row counts for `as_of` when some instant
of its own (known_at, or a setup's outcome_known_at) is strictly before `as_of`. Two `as_of` values with
no stored instant between them (`[a, b)` holds none) therefore see the same rows, and a read gives the
same answer for both. A backtest's checkpoints ask the same position's "similar past setups" at every
checkpoint of a week, and nothing is remembered between them: one read a week serves them all.

Similar setups and similar conditions are kept; symbol context is not (its scores are ages at `as_of`).
`RecallCache` holds the sorted instants of every memory row (read once; a `remember` through it adds its
items' instants and empties the answers) and the answers keyed by (read, arguments, how many instants
precede `as_of`). Only a backtest, its database's only writer, may use it: another process's rows would go
unseen. It is used only with an embedder that records nothing (the packaged one): a cached read skips the
embedding of its query, and a recorded embedding call must be written every time it happens.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from llmtrade.domain.memory import (
    ConditionRemembered,
    LessonRemembered,
    MarketCondition,
    OutcomeRemembered,
    Recollection,
    SetupRemembered,
    SymbolNoteRemembered,
)
from llmtrade.memory.protocol import Memory, Remembered, SetupQuery

if TYPE_CHECKING:
    import psycopg

# Every instant a memory read compares `as_of` with (memory/recall.py: `known_at < as_of` on each table,
# `outcome_known_at < as_of` on setups).
_INSTANTS = """SELECT known_at FROM memory_conditions UNION SELECT known_at FROM memory_setups
    UNION SELECT outcome_known_at FROM memory_setups WHERE outcome_known_at IS NOT NULL
    UNION SELECT known_at FROM memory_outcomes UNION SELECT known_at FROM memory_lessons
    UNION SELECT known_at FROM memory_symbols"""


@dataclass
class RecallCache:
    """What a backtest's memories answered, per visible set; shared by every job's `CachedMemory`.

    The instants are carried from one read to the next: what a `remember` through a CachedMemory stores has
    the instants of its items (each row's known_at is its item's; a setup's outcome_known_at an outcome's), so
    they are added without a query (issue 13: reading the tables again after each `remember`, even only the
    rows stored since, cost the memory's whole history every week: no index on event_id, and the row counts)."""

    instants: list[datetime] | None = None
    answers: dict[tuple[Any, ...], tuple[Recollection, ...]] = field(default_factory=dict)
    stale: bool = False
    _distinct: set[datetime] = field(default_factory=set)  # the instants, as a set

    def forget(self) -> None:
        """Something may have been stored that this cache did not see: everything is read again, no answer reused."""
        self.stale = True
        self.answers.clear()

    def learned(self, items: Sequence[Remembered]) -> None:
        """`items` were remembered (or were already stored): their instants join the held ones, no answer is
        reused. Instants of items a failed `remember` did not store are kept too: a superset only splits the
        visible sets finer (a read more), never joins two that differ."""
        self.answers.clear()
        found = [_instant(item) for item in items]
        if self.instants is None or self.stale or any(f is None for f in found):
            self.stale = True  # not read yet, or an item whose instant is unknown here: read everything next
            return
        for instant in {f for f in found if f is not None} - self._distinct:
            insort(self.instants, instant)
            self._distinct.add(instant)

    def visible(self, conn: psycopg.Connection, as_of: datetime) -> int:
        """How many distinct stored instants are before `as_of` (equal counts: the same rows visible)."""
        if self.instants is None or self.stale:
            self.instants = sorted(row[0] for row in conn.execute(_INSTANTS).fetchall())
            self._distinct = set(self.instants)
            self.stale = False
        return bisect_left(self.instants, as_of)


def _instant(item: Remembered) -> datetime | None:
    """The instant the row `item` projects to is visible from (memory/store.py `_project`); None if unknown."""
    match item:
        case ConditionRemembered():
            return item.condition.known_at
        case SetupRemembered():
            return item.setup.known_at
        case OutcomeRemembered():
            return item.outcome.known_at
        case LessonRemembered():
            return item.lesson.known_at
        case SymbolNoteRemembered():
            return item.note.known_at
    return None


class CachedMemory:
    """`Memory` over `inner`, its reads answered from `cache` when the same rows are visible."""

    def __init__(self, inner: Memory, conn: psycopg.Connection, cache: RecallCache):
        self._inner = inner
        self._conn = conn
        self._cache = cache

    def remember(self, items: Sequence[Remembered], *, week_id: date, run_id: str | None) -> None:
        try:
            self._inner.remember(items, week_id=week_id, run_id=run_id)
        finally:
            self._cache.learned(items)

    def similar_setups(self, query: SetupQuery, *, as_of: datetime, limit: int) -> tuple[Recollection, ...]:
        key = ("setups", query.model_dump_json(), limit, self._cache.visible(self._conn, as_of))
        return self._answer(key, lambda: self._inner.similar_setups(query, as_of=as_of, limit=limit))

    def prepare_similar_setups(self, *, as_of: datetime, limit: int) -> None:
        """Nothing: a backtest's reads are answered from the cache, or planned once for the whole backtest."""

    def similar_conditions(
        self, condition: MarketCondition, *, as_of: datetime, limit: int
    ) -> tuple[Recollection, ...]:
        key = ("conditions", condition.model_dump_json(), limit, self._cache.visible(self._conn, as_of))
        return self._answer(key, lambda: self._inner.similar_conditions(condition, as_of=as_of, limit=limit))

    def symbol_context(self, instrument: str, *, as_of: datetime, limit: int) -> tuple[Recollection, ...]:
        # Not kept: its scores are the memories' ages at `as_of` (memory/recall.py), which move with it.
        return self._inner.symbol_context(instrument, as_of=as_of, limit=limit)

    def symbol_contexts(
        self, instruments: Sequence[str], *, as_of: datetime, limit: int
    ) -> dict[str, tuple[Recollection, ...]]:
        return self._inner.symbol_contexts(instruments, as_of=as_of, limit=limit)

    def _answer(self, key: tuple[Any, ...], read: Any) -> tuple[Recollection, ...]:
        found = self._cache.answers.get(key)
        if found is None:
            found = self._cache.answers[key] = read()
        return found
