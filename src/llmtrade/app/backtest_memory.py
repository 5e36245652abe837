"""A backtest's memory reads, answered once per set of visible memories instead of once per checkpoint.

Every recall is point-in-time by one rule (memory/protocol.py): a row counts for `as_of` when some instant
of its own (known_at, or a setup's outcome_known_at) is strictly before `as_of`. Two `as_of` values with
no stored instant between them (`[a, b)` holds none) therefore see the same rows, and a read gives the
same answer for both. A backtest's checkpoints ask the same position's "similar past setups" at every
checkpoint of a week, and nothing is remembered between them: one read a week serves them all.

Similar setups and similar conditions are kept; symbol context is not (its scores are ages at `as_of`).
`RecallCache` holds the sorted instants of every memory row (read once, re-read after any `remember`
through it, which also empties the answers) and the answers keyed by (read, arguments, how many instants
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

from llmtrade.domain.memory import MarketCondition, Recollection
from llmtrade.memory.protocol import Memory, Remembered, SetupQuery

if TYPE_CHECKING:
    import psycopg

# Every instant a memory read compares `as_of` with (memory/recall.py: `known_at < as_of` on each table,
# `outcome_known_at < as_of` on setups).
_INSTANTS = """SELECT known_at FROM memory_conditions UNION SELECT known_at FROM memory_setups
    UNION SELECT outcome_known_at FROM memory_setups WHERE outcome_known_at IS NOT NULL
    UNION SELECT known_at FROM memory_outcomes UNION SELECT known_at FROM memory_lessons
    UNION SELECT known_at FROM memory_symbols"""


_TABLES = ("memory_conditions", "memory_setups", "memory_outcomes", "memory_lessons", "memory_symbols")
# The rows stored since the highest event id read last (each table's known_at; a setup's outcome_known_at is
# an outcome's known_at, already among memory_outcomes'), and every table's row count and highest event id:
# the new rows and the count before must add up to the count now, or a row came in below that id.
_COUNTS = (
    "SELECT "
    + " + ".join(f"(SELECT count(*) FROM {t})" for t in _TABLES)
    + ", greatest("
    + ", ".join(f"(SELECT max(event_id) FROM {t})" for t in _TABLES)
    + ")"
)
_SINCE = f"SELECT true, NULL::timestamptz, c.* FROM ({_COUNTS}) c" + "".join(
    f" UNION ALL SELECT false, known_at, NULL, NULL FROM {t} WHERE event_id > %(e)s" for t in _TABLES
)


@dataclass
class RecallCache:
    """What a backtest's memories answered, per visible set; shared by every job's `CachedMemory`.

    The instants are carried from one read to the next: after a `remember` only the rows stored since are
    read (issue 13: reading every instant again after each one cost the memory's whole history every week)."""

    instants: list[datetime] | None = None
    answers: dict[tuple[Any, ...], tuple[Recollection, ...]] = field(default_factory=dict)
    stale: bool = False
    _rows: int = 0  # rows of the memory tables the instants were read from
    _top: int = 0  # the highest event id among them
    _distinct: set[datetime] = field(default_factory=set)  # the instants, as a set

    def forget(self) -> None:
        """Something was remembered: the instants are brought up to date and no answer is reused."""
        self.stale = True
        self.answers.clear()

    def visible(self, conn: psycopg.Connection, as_of: datetime) -> int:
        """How many distinct stored instants are before `as_of` (equal counts: the same rows visible)."""
        if self.instants is None or self.stale:
            self.instants = self._read(conn, self.instants if self.stale else None)
            self.stale = False
        return bisect_left(self.instants, as_of)

    def _read(self, conn: psycopg.Connection, held: list[datetime] | None) -> list[datetime]:
        if held is not None:
            found = conn.execute(_SINCE, {"e": self._top}).fetchall()
            (_, _, rows, top), *_ = (r for r in found if r[0])  # the counts' row: the one marked true
            rows, top = int(rows), int(top or 0)
            new = [r[1] for r in found if not r[0]]
            if rows == self._rows + len(new):
                self._rows, self._top = rows, top
                for instant in set(new) - self._distinct:
                    insort(held, instant)
                self._distinct.update(new)
                return held
        counted = conn.execute(_COUNTS).fetchone()  # first: rows stored after it are read again next time
        self._rows, self._top = (int(counted[0]), int(counted[1] or 0)) if counted else (0, 0)
        instants = sorted(row[0] for row in conn.execute(_INSTANTS).fetchall())
        self._distinct = set(instants)
        return instants


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
            self._cache.forget()

    def similar_setups(self, query: SetupQuery, *, as_of: datetime, limit: int) -> tuple[Recollection, ...]:
        key = ("setups", query.model_dump_json(), limit, self._cache.visible(self._conn, as_of))
        return self._answer(key, lambda: self._inner.similar_setups(query, as_of=as_of, limit=limit))

    def similar_conditions(
        self, condition: MarketCondition, *, as_of: datetime, limit: int
    ) -> tuple[Recollection, ...]:
        key = ("conditions", condition.model_dump_json(), limit, self._cache.visible(self._conn, as_of))
        return self._answer(key, lambda: self._inner.similar_conditions(condition, as_of=as_of, limit=limit))

    def symbol_context(self, instrument: str, *, as_of: datetime, limit: int) -> tuple[Recollection, ...]:
        # Not kept: its scores are the memories' ages at `as_of` (memory/recall.py), which move with it.
        return self._inner.symbol_context(instrument, as_of=as_of, limit=limit)

    def _answer(self, key: tuple[Any, ...], read: Any) -> tuple[Recollection, ...]:
        found = self._cache.answers.get(key)
        if found is None:
            found = self._cache.answers[key] = read()
        return found
