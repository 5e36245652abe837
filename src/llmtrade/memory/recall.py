"""Retrieval over the memory tables (migration 0005): similar setups, similar conditions, symbol context.

Point-in-time everywhere: a row is visible to `as_of` only if it was known strictly before it (a setup only
once its outcome was). Order is deterministic: every ranking ends with the memory id.

Similar setups (memory/similar.py) fuse two rankings by reciprocal rank (RRF, k = 60):
- numeric: setups of the same instrument, ordered by direction (same first), |conviction difference|, the
  distance between their week's market condition and the query's (z-scores against the conditions known
  before `as_of`), then id; an exact scan of the instrument's rows (btree on instrument);
- text: cosine distance between the query's thesis-and-indicators vector and each setup's, through the HNSW
  index for the packaged embedder's 256 dimensions (iterative scan, so the point-in-time filter keeps
  recall), exactly for any other model's; only vectors of the current model count.
A hit's `score` is 1 / (its RRF sum): smaller = closer.

Round trips are what a read costs on a busy machine (~0.2-0.5 ms each): a similar-setups read is one
statement (ranked, fused and loaded in SQL), a symbol-context read one for any number of instruments. The
conditions (one row a week) are held in the process and re-read only when their version changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from llmtrade.domain.memory import Lesson, MarketCondition, Outcome, Recollection, Setup, SymbolNote
from llmtrade.memory.embedder import Embedder
from llmtrade.memory.history import ConditionHistory
from llmtrade.memory.similar import (
    _SETTINGS,
    _TEXT_EXACT,
    _TEXT_HNSW,
    HNSW_DIMS,
    TEXT_SLACK,
    prepare_similar_setups,
    similar_setups,
)

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "ConditionHistory",
    "prepare_similar_setups",
    "similar_conditions",
    "similar_setups",
    "symbol_context",
    "symbol_contexts",
    "text_ranking",
]


def text_ranking(
    conn: psycopg.Connection,
    embedder: Embedder,
    vector: str,
    *,
    as_of: datetime,
    depth: int,
    ef: int = 100,
    exact: bool = False,
) -> list[str]:
    """The ids of the `depth` visible setups whose text vector is nearest `vector` (pgvector text form), by
    (distance, id): the similar-setups read's text ranking alone (the benchmark's recall measure)."""
    hnsw = embedder.dims == HNSW_DIMS and not exact
    if hnsw:
        conn.execute(_SETTINGS, (str(max(ef, depth + TEXT_SLACK)),)).fetchone()
    rows = conn.execute(
        (_TEXT_HNSW if hnsw else _TEXT_EXACT).format(depth=int(depth), pool=int(depth) + TEXT_SLACK),
        {"v": vector, "model": embedder.model, "dims": embedder.dims, "t": as_of},
    ).fetchall()
    # relaxed_order may return near-ties out of order; the ranking is by (distance, id), always.
    return [mid for mid, _ in sorted(rows, key=lambda r: (r[1], r[0]))][:depth]


def similar_conditions(
    conn: psycopg.Connection,
    condition: MarketCondition,
    *,
    as_of: datetime,
    limit: int,
    history: ConditionHistory | None = None,
    told: bool = False,
) -> tuple[Recollection, ...]:
    """Up to `limit` past weeks' conditions known before `as_of` nearest `condition` (its own week left out);
    the score is the root-mean-square z-score distance. `told`: `history` is told of every condition stored since
    it was read (ConditionHistory.stored: a backtest's memories, the table's only writer), so once read it is
    not checked against the table's version again."""
    if limit <= 0:
        return ()
    history = history or ConditionHistory()
    if not told or history.version is None:
        history.refresh(conn, history.read_version(conn))
    # One more than asked: the condition's own row, if visible, is left out after the cut.
    scored = [t for t in history.nearest(condition, as_of, limit + 1) if t[1] != condition.memory_id]
    out = []
    for rank, (d, mid, row) in enumerate(scored[:limit], start=1):
        held = MarketCondition(
            memory_id=mid, week_id=row[1], known_at=row[2], session=row[3], names=row[4], values=row[5]
        )
        out.append(
            Recollection(memory_id=mid, kind="condition", week_id=held.week_id, rank=rank, score=d, condition=held)
        )
    return tuple(out)


def symbol_context(
    conn: psycopg.Connection, instrument: str, *, as_of: datetime, limit: int
) -> tuple[Recollection, ...]:
    """Up to `limit` notes, setups (with outcomes) and lessons on `instrument` known before `as_of`, newest
    first (ties by id); the score is the memory's age at `as_of`, in days. Exact btree-filtered search."""
    return symbol_contexts(conn, [instrument], as_of=as_of, limit=limit)[instrument]


# The newest of each kind on one instrument (each through its btree on instrument and time), for every instrument
# asked, in one round trip (a weekly run asks about every universe instrument: one statement, not one each).
_SYMBOL_CONTEXT = """
    SELECT q.i, x.* FROM unnest(%(is)s::text[]) AS q(i) CROSS JOIN LATERAL (
        (SELECT 'symbol' AS kind, memory_id, week_id, known_at, text, NULL::jsonb AS record,
                NULL::jsonb AS outcome, NULL::text[] AS lessons
         FROM memory_symbols WHERE instrument = q.i AND known_at < %(t)s
         ORDER BY known_at DESC, memory_id LIMIT %(n)s)
        UNION ALL
        (SELECT 'setup', s.memory_id, s.week_id, s.outcome_known_at, NULL, s.record, s.outcome,
                ARRAY(SELECT l.text FROM memory_lessons l WHERE l.week_id = s.week_id
                      AND l.account_id = s.account_id AND l.known_at < %(t)s ORDER BY l.memory_id)
         FROM memory_setups s WHERE s.instrument = q.i AND s.outcome_known_at < %(t)s
         ORDER BY s.outcome_known_at DESC, s.memory_id LIMIT %(n)s)
        UNION ALL
        (SELECT 'lesson', memory_id, week_id, known_at, text, NULL, NULL, NULL
         FROM memory_lessons WHERE instrument = q.i AND known_at < %(t)s
         ORDER BY known_at DESC, memory_id LIMIT %(n)s)) AS x"""


def symbol_contexts(
    conn: psycopg.Connection, instruments: Sequence[str], *, as_of: datetime, limit: int
) -> dict[str, tuple[Recollection, ...]]:
    """`symbol_context` of each of `instruments` (by instrument), in one statement."""
    wanted = list(dict.fromkeys(instruments))
    found: dict[str, list[Any]] = {i: [] for i in wanted}
    if limit > 0 and wanted:
        for instrument, *row in conn.execute(_SYMBOL_CONTEXT, {"is": wanted, "t": as_of, "n": limit}).fetchall():
            found[instrument].append(row)
    return {i: context_of(i, rows, as_of=as_of, limit=limit) for i, rows in found.items()}


def context_of(instrument: str, rows: Sequence[Any], *, as_of: datetime, limit: int) -> tuple[Recollection, ...]:
    """One instrument's rows (the newest `limit` of each kind) merged: the newest `limit` of all, as Recollections
    (the statement's rows, or memory/held_notes.py's)."""
    merged = sorted(rows, key=lambda r: (-r[3].timestamp(), r[1]))[:limit]
    out: list[Recollection] = []
    for rank, (kind, mid, week_id, known, text, record, outcome, lessons) in enumerate(merged, start=1):
        age = (as_of - known).total_seconds() / 86400
        if kind == "symbol":
            note = SymbolNote(memory_id=mid, week_id=week_id, known_at=known, instrument=instrument, text=text)
            out.append(Recollection(memory_id=mid, kind="symbol", week_id=week_id, rank=rank, score=age, note=note))
        elif kind == "lesson":
            out.append(
                Recollection(memory_id=mid, kind="lesson", week_id=week_id, rank=rank, score=age, lessons=(text,))
            )
        else:
            out.append(
                Recollection(
                    memory_id=mid,
                    kind="setup",
                    week_id=week_id,
                    rank=rank,
                    score=age,
                    setup=Setup.model_validate(record),
                    outcome=Outcome.model_validate(outcome),
                    lessons=tuple(lessons),
                )
            )
    return tuple(out)


def lesson_record(row: Sequence[Any]) -> Lesson:
    """A memory_lessons row (memory_id, week_id, known_at, account_id, instrument, text) as a Lesson."""
    return Lesson(memory_id=row[0], week_id=row[1], known_at=row[2], account_id=row[3], instrument=row[4], text=row[5])
