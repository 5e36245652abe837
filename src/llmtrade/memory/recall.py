"""Retrieval over the memory tables (migration 0005): similar setups, similar conditions, symbol context.

Point-in-time everywhere: a row is visible to `as_of` only if it was known strictly before it (a setup only
once its outcome was). Order is deterministic: every ranking ends with the memory id.

Similar setups fuse two rankings by reciprocal rank (RRF, k = 60):
- numeric: setups of the same instrument, ordered by direction (same first), |conviction difference|, the
  distance between their week's market condition and the query's (z-scores against the conditions known
  before `as_of`), then id; an exact scan of the instrument's rows (btree on instrument);
- text: cosine distance between the query's thesis-and-indicators vector and each setup's, through the HNSW
  index for the packaged embedder's 256 dimensions (iterative scan, so the point-in-time filter keeps
  recall), exactly for any other model's; only vectors of the current model count.
A hit's `score` is 1 / (its RRF sum): smaller = closer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from llmtrade.domain.memory import Lesson, MarketCondition, Outcome, Recollection, Setup, SymbolNote
from llmtrade.memory.conditions import Scale, distance
from llmtrade.memory.embedder import Embedder
from llmtrade.memory.protocol import SetupQuery

if TYPE_CHECKING:
    import psycopg

RRF_K = 60
HNSW_DIMS = 256  # the dimension count migration 0005's HNSW index is built for
_CANDIDATES = 4  # each ranking contributes this many times `limit` candidates to the fusion


def similar_setups(
    conn: psycopg.Connection, embedder: Embedder, query: SetupQuery, *, as_of: datetime, limit: int, ef: int = 100
) -> tuple[Recollection, ...]:
    """Up to `limit` setups most like `query` whose outcome was known before `as_of`; closest first."""
    if limit <= 0:
        return ()
    from llmtrade.memory.store import setup_text, vector_literal

    depth = max(limit * _CANDIDATES, 20)
    vector = vector_literal(embedder.embed([setup_text(query.thesis, query.indicators)])[0])
    text_hits = _text_ranking(conn, embedder, vector, as_of=as_of, depth=depth, ef=ef)
    numeric_hits = _numeric_ranking(conn, query, as_of=as_of, depth=depth)
    fused: dict[str, float] = {}
    for ranking in (text_hits, numeric_hits):
        for rank, mid in enumerate(ranking, start=1):
            fused[mid] = fused.get(mid, 0.0) + 1.0 / (RRF_K + rank)
    chosen = sorted(fused, key=lambda mid: (-fused[mid], mid))[:limit]
    return _setup_recollections(conn, chosen, [1.0 / fused[mid] for mid in chosen], as_of=as_of)


def _text_ranking(
    conn: psycopg.Connection, embedder: Embedder, vector: str, *, as_of: datetime, depth: int, ef: int
) -> list[str]:
    if embedder.dims == HNSW_DIMS:
        with conn.transaction():
            # Iterative scan: the index keeps walking until `depth` rows pass the point-in-time filter.
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(ef, depth)),))
            conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
            rows = conn.execute(
                """SELECT memory_id, embedding::vector(256) <=> %s::vector(256) AS d FROM memory_setups
                   WHERE embedding_dims = 256 AND embedding_model = %s AND outcome_known_at < %s
                   ORDER BY embedding::vector(256) <=> %s::vector(256) LIMIT %s""",
                (vector, embedder.model, as_of, vector, depth),
            ).fetchall()
    else:
        rows = conn.execute(
            """SELECT memory_id, embedding <=> %s::vector AS d FROM memory_setups
               WHERE embedding_dims = %s AND embedding_model = %s AND outcome_known_at < %s
               ORDER BY embedding <=> %s::vector, memory_id LIMIT %s""",
            (vector, embedder.dims, embedder.model, as_of, vector, depth),
        ).fetchall()
    # relaxed_order may return near-ties out of order; the ranking is by (distance, id), always.
    return [mid for mid, _ in sorted(rows, key=lambda r: (r[1], r[0]))]


def _numeric_ranking(conn: psycopg.Connection, query: SetupQuery, *, as_of: datetime, depth: int) -> list[str]:
    weeks, dists = _week_distances(conn, query.condition, as_of=as_of)
    rows = conn.execute(
        """SELECT s.memory_id FROM memory_setups s
           LEFT JOIN unnest(%s::date[], %s::float8[]) AS w(week_id, d) ON w.week_id = s.week_id
           WHERE s.instrument = %s AND s.outcome_known_at < %s
           ORDER BY (s.direction <> %s), abs(s.conviction - %s), coalesce(w.d, 'Infinity'::float8), s.memory_id
           LIMIT %s""",
        (weeks, dists, query.instrument, as_of, query.direction, query.conviction, depth),
    ).fetchall()
    return [r[0] for r in rows]


def _week_distances(
    conn: psycopg.Connection, condition: MarketCondition | None, *, as_of: datetime
) -> tuple[list[date], list[float]]:
    """Each visible week's condition distance to `condition` (none without one: the ranking skips it)."""
    if condition is None:
        return [], []
    history = conn.execute(
        "SELECT week_id, names, vals FROM memory_conditions WHERE known_at < %s ORDER BY memory_id", (as_of,)
    ).fetchall()
    scale = Scale([(names, vals) for _, names, vals in history])
    target = scale.z(condition.names, condition.values)
    weeks: list[date] = []
    dists: list[float] = []
    for week_id, names, vals in history:
        d = distance(target, scale.z(names, vals))
        if math.isfinite(d):
            weeks.append(week_id)
            dists.append(d)
    return weeks, dists


def similar_conditions(
    conn: psycopg.Connection, condition: MarketCondition, *, as_of: datetime, limit: int
) -> tuple[Recollection, ...]:
    """Up to `limit` past weeks' conditions known before `as_of` nearest `condition` (its own week left out);
    the score is the root-mean-square z-score distance."""
    if limit <= 0:
        return ()
    rows = conn.execute(
        """SELECT memory_id, week_id, known_at, session, names, vals FROM memory_conditions
           WHERE known_at < %s ORDER BY memory_id""",
        (as_of,),
    ).fetchall()
    scale = Scale([(r[4], r[5]) for r in rows])
    target = scale.z(condition.names, condition.values)
    scored = []
    for mid, week_id, known_at, session, names, vals in rows:
        if mid == condition.memory_id:
            continue
        d = distance(target, scale.z(names, vals))
        if math.isfinite(d):
            held = MarketCondition(
                memory_id=mid, week_id=week_id, known_at=known_at, session=session, names=names, values=vals
            )
            scored.append((d, mid, held))
    scored.sort(key=lambda t: (t[0], t[1]))
    return tuple(
        Recollection(memory_id=mid, kind="condition", week_id=c.week_id, rank=i, score=d, condition=c)
        for i, (d, mid, c) in enumerate(scored[:limit], start=1)
    )


def symbol_context(
    conn: psycopg.Connection, instrument: str, *, as_of: datetime, limit: int
) -> tuple[Recollection, ...]:
    """Up to `limit` notes, setups (with outcomes) and lessons on `instrument` known before `as_of`, newest
    first (ties by id); the score is the memory's age at `as_of`, in days. Exact btree-filtered search."""
    if limit <= 0:
        return ()
    notes = conn.execute(
        """SELECT memory_id, week_id, known_at, text FROM memory_symbols
           WHERE instrument = %s AND known_at < %s ORDER BY known_at DESC, memory_id LIMIT %s""",
        (instrument, as_of, limit),
    ).fetchall()
    setups = conn.execute(
        """SELECT memory_id, outcome_known_at FROM memory_setups
           WHERE instrument = %s AND outcome_known_at < %s ORDER BY outcome_known_at DESC, memory_id LIMIT %s""",
        (instrument, as_of, limit),
    ).fetchall()
    lessons = conn.execute(
        """SELECT memory_id, week_id, known_at, account_id, text FROM memory_lessons
           WHERE instrument = %s AND known_at < %s ORDER BY known_at DESC, memory_id LIMIT %s""",
        (instrument, as_of, limit),
    ).fetchall()
    merged: list[tuple[datetime, str, str, Any]] = []
    merged += [(r[2], r[0], "symbol", r) for r in notes]
    merged += [(r[1], r[0], "setup", r) for r in setups]
    merged += [(r[2], r[0], "lesson", r) for r in lessons]
    merged.sort(key=lambda t: (-t[0].timestamp(), t[1]))
    merged = merged[:limit]
    setup_hits = {
        r.memory_id: r
        for r in _setup_recollections(
            conn, [m for _, m, k, _ in merged if k == "setup"], [0.0] * len(merged), as_of=as_of
        )
    }
    out: list[Recollection] = []
    for rank, (known, mid, kind, row) in enumerate(merged, start=1):
        age = (as_of - known).total_seconds() / 86400
        if kind == "symbol":
            note = SymbolNote(memory_id=mid, week_id=row[1], known_at=row[2], instrument=instrument, text=row[3])
            out.append(Recollection(memory_id=mid, kind="symbol", week_id=row[1], rank=rank, score=age, note=note))
        elif kind == "lesson":
            out.append(
                Recollection(memory_id=mid, kind="lesson", week_id=row[1], rank=rank, score=age, lessons=(row[4],))
            )
        else:
            hit = setup_hits[mid]
            out.append(hit.model_copy(update={"rank": rank, "score": age}))
    return tuple(out)


def _setup_recollections(
    conn: psycopg.Connection, ids: Sequence[str], scores: Sequence[float], *, as_of: datetime
) -> tuple[Recollection, ...]:
    """The setups `ids` in that order, each with its outcome and its week's lessons known before `as_of`."""
    if not ids:
        return ()
    rows = conn.execute(
        "SELECT memory_id, record, outcome FROM memory_setups WHERE memory_id = ANY(%s)", (list(ids),)
    ).fetchall()
    by_id = {r[0]: (Setup.model_validate(r[1]), Outcome.model_validate(r[2])) for r in rows}
    keys = sorted({(s.week_id, s.account_id) for s, _ in by_id.values()})
    lessons: dict[tuple[date, str], list[str]] = {}
    if keys:
        found = conn.execute(
            """SELECT week_id, account_id, text FROM memory_lessons
               JOIN unnest(%s::date[], %s::text[]) AS k(w, a) ON week_id = k.w AND account_id = k.a
               WHERE known_at < %s ORDER BY memory_id""",
            ([k[0] for k in keys], [k[1] for k in keys], as_of),
        ).fetchall()
        for week_id, account_id, text in found:
            lessons.setdefault((week_id, account_id), []).append(text)
    out = []
    for rank, (mid, score) in enumerate(zip(ids, scores, strict=False), start=1):
        setup, outcome = by_id[mid]
        out.append(
            Recollection(
                memory_id=mid,
                kind="setup",
                week_id=setup.week_id,
                rank=rank,
                score=score,
                setup=setup,
                outcome=outcome,
                lessons=tuple(lessons.get((setup.week_id, setup.account_id), ())),
            )
        )
    return tuple(out)


def lesson_record(row: Sequence[Any]) -> Lesson:
    """A memory_lessons row (memory_id, week_id, known_at, account_id, instrument, text) as a Lesson."""
    return Lesson(memory_id=row[0], week_id=row[1], known_at=row[2], account_id=row[3], instrument=row[4], text=row[5])
