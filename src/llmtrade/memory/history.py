"""The market conditions held in the process: one row a week, re-read only when the table's version changes,
compared with numpy (z-scores against the conditions known before an as-of time)."""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Callable, Hashable, Sequence
from datetime import date, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from llmtrade.domain.memory import MarketCondition

if TYPE_CHECKING:
    import psycopg

# (row count, highest event id) of memory_conditions, kept in one row by migration 0012's triggers (not counted).
_VERSION = "SELECT n, e FROM memory_conditions_version"
_ALL = "SELECT memory_id, week_id, known_at, session, names, vals FROM memory_conditions ORDER BY memory_id"
_NEWER = """SELECT memory_id, week_id, known_at, session, names, vals, memory_id > %(last)s FROM memory_conditions
    WHERE event_id > %(e)s ORDER BY memory_id"""
# A week's pitch, checkpoint and validator reads all compare the same condition at the same as-of time: what
# is derived from that pair is kept (per table version) for this many pairs.
_MEMO_MAX = 256
_WEEK_ID = re.compile(r"condition:\d{4}-\d{2}-\d{2}")
T = TypeVar("T")


class ConditionHistory:
    """Every stored condition, held in the process: z-scores and distances against the ones known before an
    as-of time, computed with numpy. `refresh(version)` re-reads the table when its version changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: tuple[int, int] | None = None
        self._ids: list[str] = []
        self._weeks: list[date] = []
        self._week_days: np.ndarray = np.empty(0, dtype="datetime64[D]")
        self._id_rank: np.ndarray = np.empty(0, dtype=np.int64)
        self._known: np.ndarray = np.empty(0)
        self._rows: list[tuple[Any, ...]] = []
        self._names: tuple[str, ...] = ()
        self._values: np.ndarray = np.empty((0, 0))
        self._columns: dict[str, int] = {}
        self._gappy: np.ndarray = np.empty(0, dtype=bool)  # rows missing a feature
        self._memo: dict[Hashable, Any] = {}

    @property
    def version(self) -> tuple[int, int] | None:
        """(row count, highest event id) of the table as last read; None before the first read."""
        return self._version

    @staticmethod
    def read_version(conn: psycopg.Connection) -> tuple[int, int]:
        row = conn.execute(_VERSION).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def refresh(self, conn: psycopg.Connection, version: tuple[int, int]) -> None:
        """Bring the held conditions to the table's `version`: only the rows stored since the last read when they
        extend it (every one above its highest event id, all sorting after its last id, the count adding up),
        else every row again (issue 13: a backtest's weekly run and discovery re-read the whole history each
        week). Either way the held state is what reading every row would give, to the bit."""
        with self._lock:
            if version == self._version:
                return
            rows = self._newer(conn, version)
            if rows is None:
                rows = conn.execute(_ALL).fetchall()
                self._rows, self._names, self._values = [], (), np.empty((0, 0))
            self._extend(rows)
            self._version = version
            self._memo = {}

    def stored(self, rows: Sequence[tuple[Any, ...]], event_ids: Sequence[int]) -> None:
        """`rows` (memory_conditions rows as a read gives them: memory_id, week_id, known_at in `conn`'s time zone,
        session, names, vals as lists) and their event ids were just committed by the table's only writer, this
        process (a backtest): held as `refresh` would hold them after reading them back, with the version the
        table's triggers give (count, highest event id), so the next read does not find the table changed and run
        again (once a week). Only when they simply extend what is held: the history read before (maybe empty),
        every id a week's ("condition:YYYY-MM-DD", which every collation orders as code points do) after the last
        one held; else the history is read again, whole, by the next refresh."""
        with self._lock:
            ids = [r[0] for r in rows]
            if self._version is None or not rows:
                return
            chain = [*self._ids[-1:], *ids]
            extends = len(event_ids) == len(rows) and all(_WEEK_ID.fullmatch(i) for i in chain)
            if not extends or any(a >= b for a, b in pairwise(chain)):
                self._version = None  # read again, whole, by the next refresh
                return
            count, highest = self._version
            self._extend(list(rows))
            self._version = (count + len(rows), max(highest, *event_ids))
            self._memo = {}

    def forget(self) -> None:
        """The table may have changed without this history being told: the next refresh reads it whole."""
        with self._lock:
            self._version = None

    def _newer(self, conn: psycopg.Connection, version: tuple[int, int]) -> list[tuple[Any, ...]] | None:
        """The rows stored since the last read, in the order a read of every row would give them after the held
        ones; None when they do not simply extend what is held (first read, fewer rows, a row under the top)."""
        if self._version is None or not self._rows or version[0] < self._version[0]:
            return None
        found = conn.execute(_NEWER, {"e": self._version[1], "last": self._ids[-1]}).fetchall()
        # The database's collation decides ORDER BY memory_id: it is asked whether each new id sorts after the last.
        if len(found) != version[0] - self._version[0] or not all(r[6] for r in found):
            return None
        return [r[:6] for r in found]

    def _extend(self, rows: list[tuple[Any, ...]]) -> None:
        """Append `rows` (in read order) to the held conditions, as building them from all the rows would."""
        names = list(self._names)
        for row in rows:
            names += [n for n in row[4] if n not in names]
        column = {n: i for i, n in enumerate(names)}
        values = np.full((len(self._rows) + len(rows), len(names)), np.nan)
        values[: len(self._rows), : len(self._names)] = self._values
        for r, row in enumerate(rows, start=len(self._rows)):
            for name, value in zip(row[4], row[5], strict=True):
                if value is not None:
                    values[r, column[name]] = value
        held = len(self._rows)
        self._rows = [*self._rows, *rows]
        self._ids = [*self._ids[:held], *(r[0] for r in rows)]
        self._weeks = [*self._weeks[:held], *(r[1] for r in rows)]
        self._week_days = np.concatenate(
            [self._week_days[:held], np.array([r[1] for r in rows], dtype="datetime64[D]")]
        )
        # numpy orders str by code point, as Python does: each id's place in that order breaks ties.
        self._id_rank = np.argsort(np.argsort(np.array(self._ids, dtype=str))) if self._rows else np.empty(0, int)
        self._known = np.concatenate([self._known[:held], np.array([r[2].timestamp() for r in rows], dtype=float)])
        self._names = tuple(names)
        self._values = values
        self._columns = column
        self._gappy = np.isnan(values).any(axis=1)

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()`'s value, kept under `key` until the table's version changes (callers put in the key
        everything the value depends on besides the held conditions; the value must not be mutated). A value
        computed while a refresh ran under it is returned but not kept."""
        with self._lock:
            version = self._version
            if key in self._memo:
                return self._memo[key]  # type: ignore[no-any-return]
        value = compute()  # outside the lock: compute reads the history through its own locked methods
        with self._lock:
            if self._version == version:
                if len(self._memo) >= _MEMO_MAX:
                    del self._memo[next(iter(self._memo))]  # the oldest: dicts keep insertion order
                self._memo[key] = value
        return value

    def distances(self, condition: MarketCondition, as_of: datetime) -> list[tuple[float, str, tuple[Any, ...]]]:
        """(distance, memory id, row) of each condition known before `as_of` with a finite distance to
        `condition`: root-mean-square z-score difference over the features both have, scaled by the spread of
        the visible history (a feature with fewer than two values or none spread is left out)."""
        with self._lock:
            rows, dists = self._scored(condition, as_of)
            return [(float(d), self._ids[j], self._rows[j]) for j, d in zip(rows.tolist(), dists, strict=True)]

    def nearest(
        self, condition: MarketCondition, as_of: datetime, count: int
    ) -> list[tuple[float, str, tuple[Any, ...]]]:
        """The first `count` of `distances` sorted by (distance, memory id), ties of both in row order (what a stable
        sort of `distances` by that key gives). Why: a recall wants a handful of the nearest weeks, and building and
        sorting a tuple per visible week in Python cost the whole history at every recall; here the order is one
        numpy sort (ids by their code-point rank, as `nearest_weeks`) and only the `count` taken are built."""
        with self._lock:
            rows, dists = self._scored(condition, as_of)
            order = np.lexsort((self._id_rank[rows], dists))[: max(count, 0)]
            return [(float(dists[k]), self._ids[rows[k]], self._rows[rows[k]]) for k in order.tolist()]

    def nearest_weeks(self, condition: MarketCondition, as_of: datetime) -> tuple[np.ndarray, np.ndarray]:
        """The weeks (datetime64[D]) of the conditions `distances` scores and their distances (float64), nearest
        first, ties by memory id in code-point order: the same order as sorting `distances` by (distance, id)."""
        with self._lock:
            rows, dists = self._scored(condition, as_of)
            order = np.lexsort((self._id_rank[rows], dists))
            return self._week_days[rows[order]], dists[order]

    def _scored(self, condition: MarketCondition, as_of: datetime) -> tuple[np.ndarray, np.ndarray]:
        """(row indices, distances) of the visible conditions with a finite distance; the lock is held."""
        none = (np.empty(0, dtype=np.int64), np.empty(0))
        visible = np.flatnonzero(self._known < as_of.timestamp())
        if visible.size == 0:
            return none
        target = np.full(len(self._names), np.nan)
        for name, value in zip(condition.names, condition.values, strict=True):
            column = self._columns.get(name)
            if value is not None and column is not None:
                target[column] = value
        if self._gappy[visible].any():
            return self._scored_gappy(visible, target)
        # Every visible week has every feature (the usual case): the same arithmetic as the NaN-aware path below
        # (np.nanstd's own steps; the same sums in the same order, so the same bits) in a third of the numpy calls.
        history = self._values[visible]
        n = visible.size
        if n < 2:
            return none
        deviation = history - history.sum(axis=0) / n
        with np.errstate(invalid="ignore", over="ignore"):
            sd = np.sqrt((deviation * deviation).sum(axis=0) / (n - 1))
        usable = np.isfinite(sd) & (sd > 0) & ~np.isnan(target)
        if not usable.any():
            return none
        z = (history[:, usable] - target[usable]) / sd[usable]
        with np.errstate(invalid="ignore", over="ignore"):
            rms = np.sqrt((z * z).sum(axis=1) / np.count_nonzero(usable))
        keep = np.isfinite(rms)
        return visible[keep], rms[keep]

    def _scored_gappy(self, visible: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`_scored` when a visible week misses a feature: each feature scaled by the weeks that have it, each
        week compared over the features it and the target share."""
        none = (np.empty(0, dtype=np.int64), np.empty(0))
        history = self._values[visible]
        counts = np.sum(~np.isnan(history), axis=0)
        with warnings.catch_warnings():  # a column with fewer than two values: NaN, left out below
            warnings.simplefilter("ignore", RuntimeWarning)
            sd = np.nanstd(history, axis=0, ddof=1) if history.shape[0] > 1 else np.full(history.shape[1], np.nan)
        usable = (counts >= 2) & np.isfinite(sd) & (sd > 0) & ~np.isnan(target)
        if not usable.any():
            return none
        z = (history[:, usable] - target[usable]) / sd[usable]
        shared = np.sum(~np.isnan(z), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rms = np.sqrt(np.nansum(z * z, axis=1) / shared)
        keep = (shared > 0) & np.isfinite(rms)
        return visible[keep], rms[keep]
