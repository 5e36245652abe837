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

Round trips are what a read costs on a busy machine (~0.2-0.5 ms each), so a similar-setups read makes four:
the HNSW settings with the conditions' version, the text ranking, the numeric ranking, the hits with their
lessons; a symbol-context read makes one. The conditions (one row a week) are held in the process and re-read
only when their version changes. hnsw.ef_search and hnsw.iterative_scan are set for the session (they only
change HNSW index scans, and only the memory has one), in the same statement that reads the version, so a
rolled-back outer transaction cannot leave a read without them.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from llmtrade.domain.memory import Lesson, MarketCondition, Outcome, Recollection, Setup, SymbolNote
from llmtrade.memory.embedder import Embedder
from llmtrade.memory.protocol import SetupQuery

if TYPE_CHECKING:
    import psycopg

RRF_K = 60
HNSW_DIMS = 256  # the dimension count migration 0005's HNSW index is built for
_CANDIDATES = 4  # each ranking contributes this many times `limit` candidates to the fusion
_VERSION = "SELECT count(*), coalesce(max(event_id), 0) FROM memory_conditions"
_SETTINGS_AND_VERSION = """SELECT count(*), coalesce(max(event_id), 0),
    set_config('hnsw.ef_search', %s, false), set_config('hnsw.iterative_scan', 'relaxed_order', false)
    FROM memory_conditions"""
# The numeric ranking's fast path reads only the setups of the nearest weeks; this many weeks are asked for.
_NEAREST_WEEKS = 64


class ConditionHistory:
    """Every stored condition, held in the process: z-scores and distances against the ones known before an
    as-of time, computed with numpy. `refresh(version)` re-reads the table when its version changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: tuple[int, int] | None = None
        self._ids: list[str] = []
        self._weeks: list[date] = []
        self._known: np.ndarray = np.empty(0)
        self._rows: list[tuple[Any, ...]] = []
        self._names: tuple[str, ...] = ()
        self._values: np.ndarray = np.empty((0, 0))

    def refresh(self, conn: psycopg.Connection, version: tuple[int, int]) -> None:
        with self._lock:
            if version == self._version:
                return
            rows = conn.execute(
                "SELECT memory_id, week_id, known_at, session, names, vals FROM memory_conditions ORDER BY memory_id"
            ).fetchall()
            names: list[str] = []
            for row in rows:
                names += [n for n in row[4] if n not in names]
            column = {n: i for i, n in enumerate(names)}
            values = np.full((len(rows), len(names)), np.nan)
            for r, row in enumerate(rows):
                for name, value in zip(row[4], row[5], strict=True):
                    if value is not None:
                        values[r, column[name]] = value
            self._rows = rows
            self._ids = [r[0] for r in rows]
            self._weeks = [r[1] for r in rows]
            self._known = np.array([r[2].timestamp() for r in rows])
            self._names = tuple(names)
            self._values = values
            self._version = version

    def distances(self, condition: MarketCondition, as_of: datetime) -> list[tuple[float, str, tuple[Any, ...]]]:
        """(distance, memory id, row) of each condition known before `as_of` with a finite distance to
        `condition`: root-mean-square z-score difference over the features both have, scaled by the spread of
        the visible history (a feature with fewer than two values or none spread is left out)."""
        with self._lock:
            visible = np.nonzero(self._known < as_of.timestamp())[0]
            if visible.size == 0:
                return []
            history = self._values[visible]
            counts = np.sum(~np.isnan(history), axis=0)
            with warnings.catch_warnings():  # a column with fewer than two values: NaN, left out below
                warnings.simplefilter("ignore", RuntimeWarning)
                sd = np.nanstd(history, axis=0, ddof=1) if history.shape[0] > 1 else np.full(history.shape[1], np.nan)
            usable = (counts >= 2) & np.isfinite(sd) & (sd > 0)
            target = np.full(len(self._names), np.nan)
            for name, value in zip(condition.names, condition.values, strict=True):
                if value is not None and name in self._names:
                    target[self._names.index(name)] = value
            usable &= ~np.isnan(target)
            if not usable.any():
                return []
            z = (history[:, usable] - target[usable]) / sd[usable]
            shared = np.sum(~np.isnan(z), axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                rms = np.sqrt(np.nansum(z * z, axis=1) / shared)
            return [
                (float(rms[i]), self._ids[j], self._rows[j])
                for i, j in enumerate(visible)
                if shared[i] > 0 and math.isfinite(rms[i])
            ]


def similar_setups(
    conn: psycopg.Connection,
    embedder: Embedder,
    query: SetupQuery,
    *,
    as_of: datetime,
    limit: int,
    history: ConditionHistory | None = None,
    ef: int = 100,
    exact: bool = False,
) -> tuple[Recollection, ...]:
    """Up to `limit` setups most like `query` whose outcome was known before `as_of`; closest first.
    `exact` skips the HNSW index (the benchmark's baseline); `ef` is hnsw.ef_search."""
    if limit <= 0:
        return ()
    from llmtrade.memory.store import setup_text, vector_literal

    history = history or ConditionHistory()
    depth = max(limit * _CANDIDATES, 20)
    vector = vector_literal(embedder.embed([setup_text(query.thesis, query.indicators)])[0])
    row = conn.execute(_SETTINGS_AND_VERSION, (str(max(ef, depth)),)).fetchone()
    text_hits = _ranked(_text_query(conn, embedder, vector, as_of=as_of, depth=depth, exact=exact).fetchall())
    numeric_hits = _numeric_ranking(conn, query, history, (int(row[0]), int(row[1])), as_of=as_of, depth=depth)
    fused: dict[str, float] = {}
    for ranking in (text_hits, numeric_hits):
        for rank, mid in enumerate(ranking, start=1):
            fused[mid] = fused.get(mid, 0.0) + 1.0 / (RRF_K + rank)
    chosen = sorted(fused, key=lambda mid: (-fused[mid], mid))[:limit]
    return _setup_recollections(conn, chosen, [1.0 / fused[mid] for mid in chosen], as_of=as_of)


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
    """The ids of the `depth` visible setups whose text vector is nearest `vector` (pgvector text form)."""
    conn.execute(_SETTINGS_AND_VERSION, (str(max(ef, depth)),)).fetchone()
    return _ranked(_text_query(conn, embedder, vector, as_of=as_of, depth=depth, exact=exact).fetchall())


def _text_query(
    conn: psycopg.Connection, embedder: Embedder, vector: str, *, as_of: datetime, depth: int, exact: bool
) -> Any:
    """Runs the text ranking's query (the HNSW settings already set) and returns its cursor."""
    if embedder.dims == HNSW_DIMS and not exact:
        # Iterative scan: the index keeps walking until `depth` rows pass the point-in-time filter.
        return conn.execute(
            """SELECT memory_id, embedding::vector(256) <=> %s::vector(256) AS d FROM memory_setups
               WHERE embedding_dims = 256 AND embedding_model = %s AND outcome_known_at < %s
               ORDER BY embedding::vector(256) <=> %s::vector(256) LIMIT %s""",
            (vector, embedder.model, as_of, vector, depth),
        )
    return conn.execute(
        """SELECT memory_id, embedding <=> %s::vector AS d FROM memory_setups
           WHERE embedding_dims = %s AND embedding_model = %s AND outcome_known_at < %s
           ORDER BY embedding <=> %s::vector, memory_id LIMIT %s""",
        (vector, embedder.dims, embedder.model, as_of, vector, depth),
    )


def _ranked(rows: Sequence[Any]) -> list[str]:
    # relaxed_order may return near-ties out of order; the ranking is by (distance, id), always.
    return [mid for mid, _ in sorted(rows, key=lambda r: (r[1], r[0]))]


def _numeric_ranking(
    conn: psycopg.Connection,
    query: SetupQuery,
    history: ConditionHistory,
    version: tuple[int, int],
    *,
    as_of: datetime,
    depth: int,
) -> list[str]:
    """Setups of the query's instrument ordered by (other direction, |conviction difference|, week distance,
    id). Fast path: the first tier (same direction and conviction) in the nearest weeks, through the btree on
    (instrument, direction, conviction, week_id); when that gives `depth` rows they are exactly the general
    ordering's first `depth` (every farther week is farther), else the general query runs."""
    weeks: list[date] = []
    dists: list[float] = []
    if query.condition is not None:
        history.refresh(conn, version)
        for d, _, row in sorted(history.distances(query.condition, as_of), key=lambda t: (t[0], t[1])):
            weeks.append(row[1])
            dists.append(d)
    if len(weeks) > _NEAREST_WEEKS:
        # Every week as near as the last one taken comes along, so a tie at the edge cannot split.
        edge = dists[_NEAREST_WEEKS - 1]
        cut = next((i for i, d in enumerate(dists) if d > edge), len(dists))
        rows = conn.execute(
            """SELECT s.memory_id FROM memory_setups s
               JOIN unnest(%s::date[], %s::float8[]) AS w(week_id, d) ON w.week_id = s.week_id
               WHERE s.instrument = %s AND s.direction = %s AND s.conviction = %s AND s.outcome_known_at < %s
               ORDER BY w.d, s.memory_id LIMIT %s""",
            (weeks[:cut], dists[:cut], query.instrument, query.direction, query.conviction, as_of, depth),
        ).fetchall()
        if len(rows) == depth:
            return [r[0] for r in rows]
    rows = conn.execute(
        """SELECT s.memory_id FROM memory_setups s
           LEFT JOIN unnest(%s::date[], %s::float8[]) AS w(week_id, d) ON w.week_id = s.week_id
           WHERE s.instrument = %s AND s.outcome_known_at < %s
           ORDER BY (s.direction <> %s), abs(s.conviction - %s), coalesce(w.d, 'Infinity'::float8), s.memory_id
           LIMIT %s""",
        (weeks, dists, query.instrument, as_of, query.direction, query.conviction, depth),
    ).fetchall()
    return [r[0] for r in rows]


def similar_conditions(
    conn: psycopg.Connection,
    condition: MarketCondition,
    *,
    as_of: datetime,
    limit: int,
    history: ConditionHistory | None = None,
) -> tuple[Recollection, ...]:
    """Up to `limit` past weeks' conditions known before `as_of` nearest `condition` (its own week left out);
    the score is the root-mean-square z-score distance."""
    if limit <= 0:
        return ()
    history = history or ConditionHistory()
    version = conn.execute(_VERSION).fetchone()
    history.refresh(conn, (int(version[0]), int(version[1])))
    scored = sorted(
        ((d, mid, row) for d, mid, row in history.distances(condition, as_of) if mid != condition.memory_id),
        key=lambda t: (t[0], t[1]),
    )
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
    if limit <= 0:
        return ()
    # One round trip: the newest of each kind (each through its btree on instrument and time), merged here.
    rows = conn.execute(
        """(SELECT 'symbol' AS kind, memory_id, week_id, known_at, text, NULL::jsonb AS record,
                   NULL::jsonb AS outcome, NULL::text[] AS lessons
            FROM memory_symbols WHERE instrument = %(i)s AND known_at < %(t)s
            ORDER BY known_at DESC, memory_id LIMIT %(n)s)
           UNION ALL
           (SELECT 'setup', s.memory_id, s.week_id, s.outcome_known_at, NULL, s.record, s.outcome,
                   ARRAY(SELECT l.text FROM memory_lessons l WHERE l.week_id = s.week_id
                         AND l.account_id = s.account_id AND l.known_at < %(t)s ORDER BY l.memory_id)
            FROM memory_setups s WHERE s.instrument = %(i)s AND s.outcome_known_at < %(t)s
            ORDER BY s.outcome_known_at DESC, s.memory_id LIMIT %(n)s)
           UNION ALL
           (SELECT 'lesson', memory_id, week_id, known_at, text, NULL, NULL, NULL
            FROM memory_lessons WHERE instrument = %(i)s AND known_at < %(t)s
            ORDER BY known_at DESC, memory_id LIMIT %(n)s)""",
        {"i": instrument, "t": as_of, "n": limit},
    ).fetchall()
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


def _setup_recollections(
    conn: psycopg.Connection, ids: Sequence[str], scores: Sequence[float], *, as_of: datetime
) -> tuple[Recollection, ...]:
    """The setups `ids` in that order, each with its outcome and its week's lessons known before `as_of`."""
    if not ids:
        return ()
    rows = conn.execute(
        """SELECT s.memory_id, s.record, s.outcome,
                  ARRAY(SELECT l.text FROM memory_lessons l
                        WHERE l.week_id = s.week_id AND l.account_id = s.account_id AND l.known_at < %s
                        ORDER BY l.memory_id)
           FROM memory_setups s WHERE s.memory_id = ANY(%s)""",
        (as_of, list(ids)),
    ).fetchall()
    by_id = {r[0]: (Setup.model_validate(r[1]), Outcome.model_validate(r[2]), tuple(r[3])) for r in rows}
    out = []
    for rank, (mid, score) in enumerate(zip(ids, scores, strict=False), start=1):
        setup, outcome, lessons = by_id[mid]
        out.append(
            Recollection(
                memory_id=mid,
                kind="setup",
                week_id=setup.week_id,
                rank=rank,
                score=score,
                setup=setup,
                outcome=outcome,
                lessons=lessons,
            )
        )
    return tuple(out)


def lesson_record(row: Sequence[Any]) -> Lesson:
    """A memory_lessons row (memory_id, week_id, known_at, account_id, instrument, text) as a Lesson."""
    return Lesson(memory_id=row[0], week_id=row[1], known_at=row[2], account_id=row[3], instrument=row[4], text=row[5])
