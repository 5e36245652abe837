"""Similar setups in one round trip: a single SQL statement ranks, fuses and loads the hits.

The statement's CTEs are the two rankings memory/recall.py describes -- text (cosine distance to the query's
thesis-and-indicators vector; for the packaged embedder's 256 dimensions the candidates come from an HNSW
index (m = 8) over half-precision copies of migration 0009's narrow table of vectors and are ranked by their
full-precision distance, read from the same narrow rows; for any other model's an exact scan) and numeric
(same instrument; other direction last, then |conviction difference|, the week's condition distance, id) --
fused by reciprocal rank (RRF, k = 60), cut to `limit`, joined to each hit's record, outcome and lessons.
Ties: every ranking, the fusion and a hit's lessons are ordered by id in code-point order (COLLATE "C", as Python sorts
strings), whatever the database's collation: the same order in every database, and the one memory/held_setups.py
reproduces in the process for a backtest.

What the statement depends on besides its parameters is checked by the statement itself, so a read costs one
round trip when nothing changed:
- the HNSW session settings (hnsw.ef_search, hnsw.iterative_scan): the statement returns the values it ran
  with; when they are not the wanted ones (a new connection, a rolled-back transaction that set them, another
  caller's change) they are set for the session and the statement runs again;
- the condition history held in the process (the numeric ranking's week distances are computed from it):
  the statement returns the conditions' version from its own snapshot (one row kept by migration 0012's triggers,
  not a count of the table); when it is not the history's, the history is re-read and the statement runs again.
The statement is prepared on the server (one per limit and index choice), so it is planned once a session.
"""

from __future__ import annotations

import struct
import threading
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
from psycopg.adapt import Dumper
from psycopg.pq import Format

from llmtrade.domain.memory import Outcome, Recollection, Setup
from llmtrade.errors import OperationalError
from llmtrade.memory.embedder import Embedder
from llmtrade.memory.history import ConditionHistory
from llmtrade.memory.protocol import SetupQuery

if TYPE_CHECKING:
    import psycopg

RRF_K = 60
HNSW_DIMS = 256  # the dimension count migration 0007's HNSW index is built for
CANDIDATES = 4  # each ranking contributes this many times `limit` candidates to the fusion, and at least:
MIN_DEPTH = 20
# The HNSW index orders by half-precision distance; this many more candidates than the depth are taken from it
# and ranked by the full-precision distance, so near-ties (and exact ties, up to this many) at the depth's
# edge fall as they would in an exact search.
TEXT_SLACK = 8
# The numeric ranking's fast path reads only the setups of the nearest weeks; this many weeks are asked for.
NEAREST_WEEKS = 64
_ATTEMPTS = 4  # a read re-runs when settings or conditions changed under it; more means a writer keeps racing

# The HNSW candidates come from migration 0009's narrow copy of the 256-dimension vectors (in line, never toasted),
# whose visible_from is the setup's outcome_known_at.
_TEXT_HNSW = f"""
    SELECT memory_id, embedding <=> %(v)s::vector({HNSW_DIMS}) AS d FROM memory_setup_vectors
    WHERE embedding_model = %(model)s AND visible_from < %(t)s
    ORDER BY embedding::halfvec({HNSW_DIMS}) <=> %(v)s::vector({HNSW_DIMS})::halfvec({HNSW_DIMS}) LIMIT {{pool}}"""
# The exact scan for the packaged embedder's vectors reads the same narrow rows (issue 13: a backtest's memory stays
# under store.EXACT_BELOW, and scanning memory_setups' ~2 kB rows, a third with the vector in TOAST, took over twice
# the time: 4,600 shared buffers against 1,200 at 4k setups). The rows, distances and order are memory_setups'.
_TEXT_EXACT_NARROW = f"""
    SELECT memory_id, embedding <=> %(v)s::vector({HNSW_DIMS}) AS d FROM memory_setup_vectors
    WHERE embedding_model = %(model)s AND visible_from < %(t)s
    ORDER BY embedding <=> %(v)s::vector({HNSW_DIMS}), memory_id COLLATE "C" LIMIT {{depth}}"""
_TEXT_EXACT = """
    SELECT memory_id, embedding <=> %(v)s::vector AS d FROM memory_setups
    WHERE embedding_dims = %(dims)s AND embedding_model = %(model)s AND outcome_known_at < %(t)s
    ORDER BY embedding <=> %(v)s::vector, memory_id COLLATE "C" LIMIT {depth}"""

# Numeric fast path: the first tier (same direction and conviction) in the nearest weeks, read from the covering
# btree on (instrument, direction, conviction, week_id) (migration 0007) by one scan with the weeks as an array
# (PostgreSQL 17+ steps through the sorted array within the tier's few leaf pages: ~30 shared buffers at 100k
# setups, where a probe a week touched ~200). When it fills `depth` rows they are exactly the general
# ordering's first `depth` (every setup of that tier in a farther week is farther), and the general ordering,
# a sort of all the instrument's visible setups, is not run (a one-time filter skips it).
# A row's distance is looked up by its week's place in the array (the weeks are distinct: one condition a week),
# not joined: the generic plan would join the two by a nested loop over every pair. The nearest weeks come sorted by
# date, so the place is found by width_bucket's binary search (~6 date comparisons a row) rather than array_position's
# walk from the start (~30): ~0.05 ms of server time a read at 100k setups.
# The nearest weeks and their distances come as arrays of their own (`near_weeks`, `near_dists`), not as slices of
# the whole history's: a slice in the sort key is made again for every row read (~0.3 ms of server time a read).
FAST = """
    SELECT memory_id, (%(near_dists)s::float8[])[width_bucket(week_id, %(near_weeks)s::date[])] AS d
    FROM memory_setups
    WHERE instrument = %(instrument)s AND direction = %(direction)s AND conviction = %(conviction)s
      AND week_id = ANY(%(near_weeks)s::date[]) AND outcome_known_at < %(t)s
    ORDER BY 2, memory_id COLLATE "C" LIMIT {depth}"""
_SETUPS = """
WITH text AS ({text}),
fast AS MATERIALIZED ({fast}),
general AS (
    SELECT memory_id, row_number() OVER (ORDER BY other, gap, d, memory_id COLLATE "C") AS r FROM (
        SELECT s.memory_id, s.direction <> %(direction)s AS other, abs(s.conviction - %(conviction)s) AS gap,
               coalesce(w.d, 'Infinity'::float8) AS d
        FROM memory_setups s
        LEFT JOIN unnest(%(weeks)s::date[], %(dists)s::float8[]) AS w(week_id, d) ON w.week_id = s.week_id
        WHERE s.instrument = %(instrument)s AND s.outcome_known_at < %(t)s
        ORDER BY 2, 3, 4, s.memory_id COLLATE "C" LIMIT {depth}) AS g),
ranks AS (
    SELECT memory_id, r FROM (
        SELECT memory_id, row_number() OVER (ORDER BY d, memory_id COLLATE "C") AS r FROM text) AS t
    WHERE r <= {depth}
    UNION ALL
    SELECT memory_id, row_number() OVER (ORDER BY d, memory_id COLLATE "C") FROM fast
    WHERE (SELECT count(*) FROM fast) = {depth}
    UNION ALL
    SELECT memory_id, r FROM general WHERE (SELECT count(*) FROM fast) < {depth}),
fused AS (
    SELECT memory_id, sum(1.0::float8 / ({rrf} + r)) AS s FROM ranks
    GROUP BY memory_id ORDER BY s DESC, memory_id COLLATE "C" LIMIT {limit})
SELECT meta.n, meta.e, meta.ef, meta.scan, h.memory_id, h.s, h.record, h.outcome, h.lessons
FROM (SELECT v.n, v.e, current_setting('hnsw.ef_search', true) AS ef,
             current_setting('hnsw.iterative_scan', true) AS scan FROM memory_conditions_version v) AS meta
LEFT JOIN LATERAL (
    SELECT f.memory_id, f.s, m.record::text, m.outcome::text,
           ARRAY(SELECT l.text FROM memory_lessons l
                 WHERE l.week_id = m.week_id AND l.account_id = m.account_id AND l.known_at < %(t)s
                 ORDER BY l.memory_id COLLATE "C") AS lessons
    FROM fused f JOIN memory_setups m ON m.memory_id = f.memory_id) AS h ON true
ORDER BY h.s DESC, h.memory_id COLLATE "C"
"""
# The pitch, checkpoint and validator stages ask about the same setup: its vector is made once (per model).
_QUERY_VECTORS: dict[tuple[str, int, str], VectorBytes] = {}
_QUERY_VECTORS_MAX = 512
_QUERY_VECTORS_LOCK = threading.Lock()
_FLOAT8, _FLOAT8_ARRAY, _DATE, _DATE_ARRAY = 701, 1022, 1082, 1182  # pg_type oids
_PG_EPOCH = np.datetime64("2000-01-01", "D")  # a binary date counts days from it


def _binary_items(values: Any, element: str) -> np.ndarray:
    """The items of a one-dimensional array without nulls in PostgreSQL's binary format (each: int4 size, then
    the value), as a numpy record array whose bytes they are (a slice or a reordering of it is one too): exact
    bits, built by numpy in ~10 us where a text literal of a decade of weeks takes ~0.2-0.6 ms to write and more
    to parse on the server."""
    items = np.empty(len(values), dtype=[("size", ">i4"), ("value", element)])
    items["size"] = np.dtype(element).itemsize
    items["value"] = values
    return items


def _binary_array(items: np.ndarray, element_oid: int) -> bytes:
    """`items` (`_binary_items`, or a slice or reordering of them) with the array header."""
    count = len(items)
    header = struct.pack(">iii", 1 if count else 0, 0, element_oid)  # dimensions, has nulls, element type
    return header + struct.pack(">ii", count, 1) + items.tobytes() if count else header  # length, lower bound


def _day_items(days: np.ndarray) -> np.ndarray:
    """`_binary_items` of numpy days (datetime64[D]) as dates: days since PostgreSQL's epoch, int4."""
    return _binary_items((days - _PG_EPOCH).astype(np.int64), ">i4")


class _Float8Array(bytes):
    """A float8[] in binary (the week distances: the same float8 bits in SQL, so ties stay ties)."""

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray) -> _Float8Array:
        return cls(_binary_array(_binary_items(values, ">f8"), _FLOAT8))


class _DateArray(bytes):
    """A date[] in binary, from numpy days (datetime64[D])."""

    @classmethod
    def of(cls, days: np.ndarray) -> _DateArray:
        return cls(_binary_array(_day_items(days), _DATE))


class VectorBytes(bytes):
    """A pgvector `vector` in its binary form (int16 dimensions, int16 zero, a big-endian float4 each): the
    same float4 bits its text form would give, without writing 256 reprs (~0.3 ms) and parsing them again."""

    @classmethod
    def of(cls, values: Sequence[float]) -> VectorBytes:
        floats = np.asarray(values, dtype=">f4")
        return cls(struct.pack(">hh", floats.size, 0) + floats.tobytes())


class _BinaryDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return bytes(obj)


class _Float8ArrayDumper(_BinaryDumper):
    oid = _FLOAT8_ARRAY


class _DateArrayDumper(_BinaryDumper):
    oid = _DATE_ARRAY


class _VectorDumper(_BinaryDumper):
    oid = 0  # the extension's type has no fixed oid: the statement's ::vector cast gives the parameter its type


_DUMPERS = ((_Float8Array, _Float8ArrayDumper), (_DateArray, _DateArrayDumper), (VectorBytes, _VectorDumper))
_TAUGHT: weakref.WeakSet[Any] = weakref.WeakSet()  # connections whose adapters know the binary forms
_NO_WEEKS = MappingProxyType(
    {
        "weeks": _DateArray.of(np.empty(0, "datetime64[D]")),
        "dists": _Float8Array.of(()),
        "near_weeks": _DateArray.of(np.empty(0, "datetime64[D]")),
        "near_dists": _Float8Array.of(()),
    }
)


_SETTINGS = "SELECT set_config('hnsw.ef_search', %s, false), set_config('hnsw.iterative_scan', 'relaxed_order', false)"


@cache
def _statement(hnsw: bool, limit: int, depth: int, *, narrow: bool = False) -> str:
    """`narrow`: an exact scan of the packaged embedder's vectors (memory_setup_vectors) rather than memory_setups."""
    # limit and depth are ints made here, written into the text so the prepared plan knows them.
    text = (_TEXT_HNSW if hnsw else _TEXT_EXACT_NARROW if narrow else _TEXT_EXACT).format(
        depth=depth, pool=depth + TEXT_SLACK
    )
    return _SETUPS.format(text=text, fast=FAST.format(depth=depth), depth=depth, limit=limit, rrf=RRF_K)


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
    """Up to `limit` setups most like `query` whose outcome was known before `as_of`; closest first, each
    with its outcome and its week's lessons known before `as_of`; `score` = 1 / RRF sum (smaller = closer).
    `exact` skips the HNSW index (the benchmark's baseline); `ef` is hnsw.ef_search (at least the depth plus
    TEXT_SLACK).
    Raises OperationalError if the HNSW settings do not hold or the conditions keep changing under the read."""
    if limit <= 0:
        return ()
    history = history or ConditionHistory()
    depth = max(limit * CANDIDATES, MIN_DEPTH)
    hnsw = embedder.dims == HNSW_DIMS and not exact
    ef_wanted = str(max(ef, depth + TEXT_SLACK))
    vector = query_vector(embedder, query)
    params: dict[str, Any] = {
        "v": vector,
        "model": embedder.model,
        "dims": embedder.dims,
        "t": as_of,
        "instrument": query.instrument,
        "direction": str(query.direction),
        "conviction": query.conviction,
    }
    sql = _statement(hnsw, limit, depth, narrow=embedder.dims == HNSW_DIMS)
    if query.condition is not None and history.version is None:
        history.refresh(conn, history.read_version(conn))
    teach_binary(conn)
    for _ in range(_ATTEMPTS):
        seen = history.version
        params.update(_week_params(query, history, as_of))
        rows = conn.execute(sql, params, prepare=True).fetchall()
        n, e, ef_now, scan = rows[0][:4]
        if hnsw and (ef_now != ef_wanted or scan != "relaxed_order"):
            conn.execute(_SETTINGS, (ef_wanted,)).fetchone()
            continue
        if query.condition is not None and (int(n), int(e)) != seen:
            history.refresh(conn, (int(n), int(e)))
            continue
        return _recollections([r[4:] for r in rows if r[4] is not None])
    raise OperationalError("the memory's similar-setups read kept finding its settings or conditions changed")


def query_vector(embedder: Embedder, query: SetupQuery) -> VectorBytes:
    """The text vector of `query`'s thesis and indicators, made once per text and model (the pitch, checkpoint and
    validator stages ask about the same setup)."""
    from llmtrade.memory.projection import setup_text

    text = setup_text(query.thesis, query.indicators)
    key = (embedder.model, embedder.dims, text)
    vector = _QUERY_VECTORS.get(key)
    if vector is None:
        vector = VectorBytes.of(embedder.embed([text])[0])
        _remember_vector(key, vector)
    return vector


def prepare_similar_setups(
    conn: psycopg.Connection, embedder: Embedder, *, as_of: datetime, limit: int, ef: int = 100, exact: bool = False
) -> None:
    """Make `conn` ready for `similar_setups(..., limit=limit)` reads as `similar_setups` would run them (same
    arguments): the HNSW session settings set, the statement prepared (planned) and the backend's first look at
    the memory tables taken, so the connection's first read costs what later ones do (about 25 ms less at 50 weeks
    of setups, all of it on the path between the research and the pitches when paid there). Runs the statement once
    for a setup that matches none (no instrument, no week) with a unit vector: nothing is embedded, nothing
    returned, nothing written."""
    if limit <= 0:
        return
    depth = max(limit * CANDIDATES, MIN_DEPTH)
    hnsw = embedder.dims == HNSW_DIMS and not exact
    teach_binary(conn)
    if hnsw:
        conn.execute(_SETTINGS, (str(max(ef, depth + TEXT_SLACK)),)).fetchone()
    probe = VectorBytes.of([1.0] + [0.0] * (embedder.dims - 1))
    params = {
        "v": probe,
        "model": embedder.model,
        "dims": embedder.dims,
        "t": as_of,
        "instrument": "",
        "direction": "FLAT",
        "conviction": 1,
        **_NO_WEEKS,
    }
    conn.execute(_statement(hnsw, limit, depth, narrow=embedder.dims == HNSW_DIMS), params, prepare=True).fetchall()


def teach_binary(conn: psycopg.Connection) -> None:
    """The connection may predate this module: its adapters learn the binary forms once."""
    if conn not in _TAUGHT:
        for cls, dumper in _DUMPERS:
            conn.adapters.register_dumper(cls, dumper)
        _TAUGHT.add(conn)


def _remember_vector(key: tuple[str, int, str], vector: VectorBytes) -> None:
    with _QUERY_VECTORS_LOCK:
        if len(_QUERY_VECTORS) >= _QUERY_VECTORS_MAX:
            del _QUERY_VECTORS[next(iter(_QUERY_VECTORS))]  # the oldest: dicts keep insertion order
        _QUERY_VECTORS[key] = vector


def _week_params(query: SetupQuery, history: ConditionHistory, as_of: datetime) -> Mapping[str, Any]:
    """The numeric ranking's weeks and their condition distances, nearest first (ties by memory id), as binary
    date[] and float8[] (`weeks`, `dists`), and the nearest NEAREST_WEEKS of them the fast path reads
    (`near_weeks`, `near_dists`; by date, for the fast path's binary search), with every week as near as the last
    one taken (a tie at the edge cannot split). Not lists: psycopg adapts a list item by item, ~1 ms for a decade
    of weeks. Kept by the history (a week's reads share the condition and as-of time): read-only."""
    if query.condition is None:
        return _NO_WEEKS
    condition = query.condition
    return history.memo(
        ("similar.week_params", condition, as_of, NEAREST_WEEKS),
        lambda: _week_arrays(*history.nearest_weeks(condition, as_of)),
    )


def _week_arrays(weeks: np.ndarray, dists: np.ndarray) -> Mapping[str, Any]:
    cut = len(weeks)
    if cut > NEAREST_WEEKS:
        # dists ascend: the first week farther than the last one taken ends the cut
        cut = int(np.searchsorted(dists, dists[NEAREST_WEEKS - 1], side="right"))
    # Each array's items once; the nearest weeks' are some of them, reordered by date (the weeks are distinct: one
    # condition a week).
    days, floats = _day_items(weeks), _binary_items(dists, ">f8")
    by_date = np.argsort(weeks[:cut], kind="stable")
    return MappingProxyType(
        {
            "weeks": _DateArray(_binary_array(days, _DATE)),
            "dists": _Float8Array(_binary_array(floats, _FLOAT8)),
            "near_weeks": _DateArray(_binary_array(days[:cut][by_date], _DATE)),
            "near_dists": _Float8Array(_binary_array(floats[:cut][by_date], _FLOAT8)),
        }
    )


def _recollections(rows: Sequence[Any]) -> tuple[Recollection, ...]:
    """Rows of (memory_id, RRF sum, record, outcome, lessons), best first, as ranked Recollections; record and
    outcome as JSON text (pydantic parses and validates it in one pass: ~60 us a hit less than json.loads and
    model_validate)."""
    out = []
    for rank, (mid, fused, record, outcome, lessons) in enumerate(rows, start=1):
        setup = Setup.model_validate_json(record)
        out.append(
            Recollection(
                memory_id=mid,
                kind="setup",
                week_id=setup.week_id,
                rank=rank,
                score=1.0 / fused,
                setup=setup,
                outcome=Outcome.model_validate_json(outcome),
                lessons=tuple(lessons),
            )
        )
    return tuple(out)
