"""What the committee asks of its memory. Stages and agents hold a `Memory`; none knows the class behind it.

Every read takes `as_of`: only memories known strictly before it are returned (a setup only once its outcome
is known before it), so a week never sees what it could not have known. Results are deterministic: the same
tables and query give the same hits in the same order (ties broken by memory id).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from llmtrade.domain.memory import (
    ConditionRemembered,
    LessonRemembered,
    MarketCondition,
    OutcomeRemembered,
    Recollection,
    SetupRemembered,
    SymbolNoteRemembered,
)
from llmtrade.domain.records import Direction, Record

Remembered = ConditionRemembered | SetupRemembered | OutcomeRemembered | LessonRemembered | SymbolNoteRemembered


class SetupQuery(Record):
    """A setup to find the likes of: a pitch being made or judged. Similarity fuses (by rank) a numeric part
    (same instrument, direction, conviction, the week's condition vector) and a text part (thesis and
    indicators)."""

    instrument: str
    direction: Direction
    conviction: int
    thesis: str
    indicators: tuple[str, ...] = ()
    condition: MarketCondition | None = None


class Memory(Protocol):
    def remember(self, items: Sequence[Remembered], *, week_id: date, run_id: str | None) -> None:
        """Append `items` as events and project them into the tables, in one transaction; an item whose
        memory id is already stored is left as it is (a rerun writes nothing twice)."""
        ...

    def similar_setups(self, query: SetupQuery, *, as_of: datetime, limit: int) -> tuple[Recollection, ...]:
        """Past setups most like `query` whose outcome was known before `as_of`, each with its outcome and
        its week's lessons; most similar first."""
        ...

    def prepare_similar_setups(self, *, as_of: datetime, limit: int) -> None:
        """Get ready for `similar_setups` reads of `limit` hits (a database memory plans its statement), so the
        first read costs what later ones do; reads nothing anyone sees and writes nothing."""
        ...

    def similar_conditions(
        self, condition: MarketCondition, *, as_of: datetime, limit: int
    ) -> tuple[Recollection, ...]:
        """Past weeks whose market condition (standardised with the history known before `as_of`) is
        closest to `condition`; nearest first."""
        ...

    def symbol_context(self, instrument: str, *, as_of: datetime, limit: int) -> tuple[Recollection, ...]:
        """The latest notes, setups and lessons on `instrument` known before `as_of`; newest first (exact
        filtered search: a selective filter on an HNSW index loses recall)."""
        ...

    def symbol_contexts(
        self, instruments: Sequence[str], *, as_of: datetime, limit: int
    ) -> dict[str, tuple[Recollection, ...]]:
        """`symbol_context` of each of `instruments`, by instrument (each once), read together."""
        ...
