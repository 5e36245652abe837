"""Symbol context (memory/recall.py `symbol_contexts`) answered from what memory/held_setups.py holds: the rows its
statement picks, handed to the same `context_of` that assembles the statement's.

The statement takes, per instrument, the newest `limit` of each kind known strictly before `as_of` (notes and lessons
by known_at, setups by outcome_known_at), "ORDER BY time DESC, memory_id" in the database's collation, and each setup
hit's lessons "ORDER BY memory_id". The collation decides only where two rows of one kind share the time at the cut,
or a setup has more than one lesson: there the answer is the statement's only when the database orders text by code
point (`codepoint_order`), and otherwise is left to the statement (None). The times are given in the connection's
time zone, as psycopg gives a timestamptz.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import psycopg

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COLLATION = "SELECT datcollate, datlocprovider::text FROM pg_database WHERE datname = current_database()"
# Collations that order text by code point (libc's C and POSIX; glibc's and PostgreSQL's builtin C.UTF-8).
_CODEPOINT = {"C", "POSIX", "C.UTF-8", "C.utf8"}

# A held note or lesson: (known_at in microseconds since the epoch, memory id, week id, text).
Note = tuple[int, str, date, str]
# A held setup with an outcome: (outcome_known_at in microseconds, memory id, record, outcome, its lessons' (memory id,
# known_at in microseconds, text)).
SetupHit = tuple[int, str, date, Any, Any, Sequence[tuple[str, int, str]]]


def codepoint_order(conn: psycopg.Connection) -> bool:
    """Whether the database's default collation orders text by code point (as Python orders str)."""
    row = conn.execute(_COLLATION).fetchone()
    return bool(row) and row[0] in _CODEPOINT and row[1] in ("c", "b")


class SymbolNotes:
    """A sole writer's symbol notes and instrument lessons held by instrument, each list sorted by (known_at, id)."""

    def __init__(self) -> None:
        self._notes: dict[str, list[Note]] = {}
        self._lessons: dict[str, list[Note]] = {}

    def note(self, instrument: str, known: int, mid: str, week_id: date, text: str) -> None:
        """A symbol note known at `known` (microseconds since the epoch)."""
        insort(self._notes.setdefault(instrument, []), (known, mid, week_id, text))

    def lesson(self, instrument: str | None, known: int, mid: str, week_id: date, text: str) -> None:
        """A lesson, in its instrument's context when it names one."""
        if instrument is not None:
            insort(self._lessons.setdefault(instrument, []), (known, mid, week_id, text))

    def rows(
        self, instrument: str, setups: Sequence[SetupHit], t: int, limit: int, zone: tzinfo, codepoint: bool
    ) -> list[tuple[Any, ...]] | None:
        """`context_rows` of the instrument's notes and lessons `before` `t` and its `setups`."""
        notes = before(self._notes.get(instrument, []), t, limit)
        lessons = before(self._lessons.get(instrument, []), t, limit)
        return context_rows(notes, setups, lessons, t, limit, zone, codepoint)


def before(items: list[Note], t: int, limit: int) -> list[Note]:
    """Of `items` (sorted by time, then id), those `newest` needs: the newest `limit` known before `t` and any
    others that share the time of the oldest of them."""
    end = bisect_left(items, (t,))
    start = max(0, end - max(limit, 0))
    if 0 < start < end:
        cut = items[start][0]
        while start > 0 and items[start - 1][0] == cut:
            start -= 1
    return items[start:end] if limit > 0 else []


def newest_setups(
    rows: np.ndarray, visible: np.ndarray, ids: Sequence[str], limit: int, hit: Callable[[int], SetupHit]
) -> list[SetupHit]:
    """Of the setup `rows` (their outcome_known_at in `visible`, ids in `ids`), the newest `limit` by (time, id) and
    the next one (what `newest` needs to pick them and see a tie at the cut), as `hit(row)` gives them."""
    if rows.size > limit:
        known = visible[rows]
        rows = rows[known >= np.partition(known, -limit)[-limit]]  # the newest, with every row tied at the cut
    picked = sorted((-int(visible[r]), ids[r], r) for r in rows.tolist())[: limit + 1]
    return [hit(row) for _, _, row in picked]


def newest(rows: Sequence[tuple[int, str]], limit: int) -> tuple[list[int], bool]:
    """The indices of the newest `limit` of `rows` ((time, memory id)), ties by id in code-point order, and whether
    the collation could matter (two rows share the time at the cut)."""
    order = sorted(range(len(rows)), key=lambda i: (-rows[i][0], rows[i][1]))
    at_cut = len(order) > limit > 0 and rows[order[limit - 1]][0] == rows[order[limit]][0]
    return order[:limit], at_cut


def context_rows(
    notes: Sequence[Note],
    setups: Sequence[SetupHit],
    lessons: Sequence[Note],
    t: int,
    limit: int,
    zone: tzinfo,
    codepoint: bool,
) -> list[tuple[Any, ...]] | None:
    """One instrument's rows as the statement returns them (after the instrument column), from its held notes,
    setups with outcomes and lessons (any time: those known before `t` count); None when the collation could change
    them and is not code point order."""

    def moment(micros: int) -> datetime:
        return (_EPOCH + timedelta(microseconds=micros)).astimezone(zone)

    out: list[tuple[Any, ...]] = []
    seen = [n for n in notes if n[0] < t]
    picked, tied = newest([(n[0], n[1]) for n in seen], limit)
    if tied and not codepoint:
        return None
    out += [("symbol", seen[i][1], seen[i][2], moment(seen[i][0]), seen[i][3], None, None, None) for i in picked]
    hits = [s for s in setups if s[0] < t]
    picked, tied = newest([(s[0], s[1]) for s in hits], limit)
    if tied and not codepoint:
        return None
    for i in picked:
        known, mid, week_id, record, outcome, held = hits[i]
        shown = sorted((lesson_id, text) for lesson_id, at, text in held if at < t)
        if len(shown) > 1 and not codepoint:
            return None
        out.append(("setup", mid, week_id, moment(known), None, record, outcome, [text for _, text in shown]))
    seen = [n for n in lessons if n[0] < t]
    picked, tied = newest([(n[0], n[1]) for n in seen], limit)
    if tied and not codepoint:
        return None
    out += [("lesson", seen[i][1], seen[i][2], moment(seen[i][0]), seen[i][3], None, None, None) for i in picked]
    return out


def contexts(
    instruments: Sequence[str],
    rows_of: Callable[[str], list[tuple[Any, ...]] | None],
    assemble: Callable[[str, list[tuple[Any, ...]]], Any],
) -> dict[str, Any] | None:
    """Each instrument's recollections, `assemble`d from `rows_of(instrument)`; None if any is None."""
    found: dict[str, Any] = {}
    for instrument in dict.fromkeys(instruments):
        rows = rows_of(instrument)
        if rows is None:
            return None
        found[instrument] = assemble(instrument, rows)
    return found
