"""The setups and lessons of a database this process alone writes (a backtest's), held in the process, so a
similar-setups read is answered without the statement: the rows, ranks, scores and lessons memory/similar.py's statement
gives (memory/held_ranking.py ranks them; a near-tie of text distances is decided by the server's distances of those few
rows, looked up by id; what is not proven here -- a vector not of unit length, a naive as-of time -- runs it).

Why: on each recall miss a backtest's weekly run asked PostgreSQL for an exact cosine scan over every visible setup
vector, which grows with history (issue 13: ~10-13 s of a 520-week backtest spent waiting on the server). The backtest
wrote every one of those rows itself.

What is held mirrors what the statement reads, with its point-in-time rules:
- memory_setups: each setup's week, account, instrument, direction, conviction and outcome_known_at (the numeric
  ranking: a setup counts once outcome_known_at < as-of);
- memory_setup_vectors: each 256-dimension setup's model, vector (the float32 values stored) and visible_from (the
  text ranking's cut), equal vectors sharing one row of a float64 matrix;
- memory_lessons: each lesson's id, known_at and text, by (week, account) (a hit's lessons: known_at < as-of);
- a setup's record and outcome: read from memory_setups by id once its outcome is stored (the jsonb text the statement
  returns, parsed the same way), then kept: they never change after (memory ids are written once).
Held like StoredIds (memory/projection.py): read whole on first use, then told of each committed `remember`'s rows
(`stored`: what `project` writes for them); anything not told (a rollback, a rebuild) is `forget`, and the tables are
read again.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from llmtrade.domain.memory import (
    LessonRemembered,
    Outcome,
    OutcomeRemembered,
    Recollection,
    Setup,
    SetupRemembered,
    SymbolNoteRemembered,
)
from llmtrade.memory import held_notes
from llmtrade.memory.held_ranking import (
    Picked,
    cosine_distances,
    distance_error,
    fused,
    numeric_ranking,
    text_ranking,
    week_distances,
    week_lookup_at,
)
from llmtrade.memory.history import ConditionHistory
from llmtrade.memory.protocol import Remembered, SetupQuery
from llmtrade.memory.recall import context_of
from llmtrade.memory.similar import VectorBytes, teach_binary

if TYPE_CHECKING:
    import psycopg

HELD_DIMS = 256  # memory_setup_vectors' dimension count (migration 0009): the vectors the narrow table holds
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_NEVER = np.iinfo(np.int64).max  # no outcome yet: visible to no as-of time

_SETUPS = """SELECT memory_id, week_id, account_id, instrument, direction, conviction, outcome_known_at
    FROM memory_setups"""
_VECTORS = "SELECT memory_id, visible_from, embedding_model, embedding::real[] FROM memory_setup_vectors"
_LESSONS = "SELECT memory_id, week_id, account_id, known_at, text, instrument FROM memory_lessons"
_NOTES = "SELECT memory_id, week_id, instrument, known_at, text FROM memory_symbols"
_OUTCOMES = "SELECT setup_id, known_at FROM memory_outcomes"
# The server's own distances of a near-tie's few rows: the statement's expression on the same rows, looked up by id.
_DISTANCES = f"""SELECT memory_id, embedding <=> %(v)s::vector({HELD_DIMS}) FROM memory_setup_vectors
    WHERE memory_id = ANY(%(ids)s)"""
_RECORDS = "SELECT memory_id, record::text, outcome::text FROM memory_setups WHERE memory_id = ANY(%s)"


def _micros(moment: datetime | None) -> int:
    """An aware instant as microseconds since the epoch (timestamptz's resolution: exact comparisons); None: never."""
    return _NEVER if moment is None else (moment - _EPOCH) // _MICRO


class HeldSetups:
    """See the module docstring. Shared by every PgMemory over the one database (their reads and writes take turns)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        # Reads answered here (of them, those that asked the server for a near-tie's distances), and reads left to the
        # statement: counts for the benchmark.
        self.answered = 0
        self.tied = 0
        self.unproven = 0
        self._codepoint: bool | None = None  # whether the database orders text by code point (held_notes)
        self.forget()

    def forget(self) -> None:
        """Something may have been stored that was not told: the tables are read again before the next read."""
        with self._lock:
            self._read = False
            self._records: dict[str, tuple[Setup, Outcome]] = {}
            self._row: dict[str, int] = {}
            self._ids: list[str] = []
            self._week_ids: list[date] = []
            self._accounts: list[str] = []
            self._codes: dict[str, int] = {}  # instrument, direction and model strings as small ints
            self._size = 0
            self._instrument = np.empty(0, np.int32)
            self._direction = np.empty(0, np.int32)
            self._conviction = np.empty(0, np.int64)
            self._week = np.empty(0, "datetime64[D]")
            self._visible = np.empty(0, np.int64)  # outcome_known_at (numeric ranking)
            self._group = np.empty(0, np.int64)  # row of the vector in `_vectors`, -1: none held (text ranking)
            self._model = np.empty(0, np.int32)
            self._text_visible = np.empty(0, np.int64)  # memory_setup_vectors.visible_from
            self._groups: dict[bytes, int] = {}
            self._vectors = np.empty((0, HELD_DIMS))
            self._squares = np.empty(0)
            self._outcomes: dict[str, int] = {}  # setup id -> its outcome's known_at, stored before or after it
            self._lessons: dict[tuple[date, str], list[tuple[str, int, str]]] = {}
            self._symbols = held_notes.SymbolNotes()  # symbol context's notes and lessons (memory/held_notes.py)

    # ------------------------------------------------------------ writing

    def stored(
        self,
        conn: psycopg.Connection,
        items: Sequence[Remembered],
        vectors: Mapping[str, Sequence[float]],
        model: str,
        dims: int,
    ) -> None:
        """`items` (none stored before; `vectors` their embeddings by memory id, by `model` of `dims`) were committed
        on `conn`: held as `project` wrote them -- setups first (each with an outcome stored before it), then outcomes
        (each filling its setup's, stored before or now). The records of the setups whose outcome is now stored are
        read (one lookup by id, in the postmortem that stores the outcomes, rather than one in a later weekly run's
        recall)."""
        with self._lock:
            if not self._read:
                return  # read whole, with these, on first use
            visible: list[str] = []
            for item in items:
                if isinstance(item, SetupRemembered):
                    s = item.setup
                    if s.memory_id in self._row:  # told twice: not what `remember` does; read the tables again
                        self.forget()
                        return
                    vector = vectors.get(s.memory_id) if dims == HELD_DIMS else None
                    known = self._outcomes.get(s.memory_id, _NEVER)
                    self._add_setup(s.memory_id, s.week_id, s.account_id, s.instrument, str(s.direction), s.conviction)
                    self._add_vector(s.memory_id, known, model, vector)
                    self._visible[self._row[s.memory_id]] = known
                    if known != _NEVER:
                        visible.append(s.memory_id)
                elif isinstance(item, LessonRemembered):
                    lesson = item.lesson
                    self._add_lesson(
                        lesson.memory_id,
                        lesson.week_id,
                        lesson.account_id,
                        lesson.known_at,
                        lesson.text,
                        lesson.instrument,
                    )
                elif isinstance(item, SymbolNoteRemembered):
                    note = item.note
                    self._symbols.note(note.instrument, _micros(note.known_at), note.memory_id, note.week_id, note.text)
            for item in items:
                if isinstance(item, OutcomeRemembered):
                    self._outcome(item.outcome.setup_id, _micros(item.outcome.known_at))
                    if item.outcome.setup_id in self._row:
                        visible.append(item.outcome.setup_id)
            self._read_records(conn, visible)

    def _read_all(self, conn: psycopg.Connection) -> None:
        for mid, week_id, account, instrument, direction, conviction, known in conn.execute(_SETUPS, binary=True):
            self._add_setup(mid, week_id, account, instrument, direction, conviction)
            self._visible[self._row[mid]] = _micros(known)
        for mid, visible, model, vector in conn.execute(_VECTORS, binary=True):
            if mid in self._row:  # the triggers keep the narrow table a copy of memory_setups' rows
                self._add_vector(mid, _micros(visible), model, vector)
        for mid, week_id, account, known, text, instrument in conn.execute(_LESSONS, binary=True):
            self._add_lesson(mid, week_id, account, known, text, instrument)
        for mid, week_id, instrument, known, text in conn.execute(_NOTES, binary=True):
            self._symbols.note(instrument, _micros(known), mid, week_id, text)
        self._outcomes = {sid: _micros(known) for sid, known in conn.execute(_OUTCOMES, binary=True)}
        self._read = True
        self._read_records(conn, [mid for mid in self._ids if self._visible[self._row[mid]] != _NEVER])

    def _read_records(self, conn: psycopg.Connection, ids: Sequence[str]) -> None:
        """The records and outcomes of the setups `ids` (with outcomes), as the statement returns them, parsed."""
        wanted = [mid for mid in ids if mid not in self._records]
        if wanted:
            for mid, record, outcome in conn.execute(_RECORDS, (wanted,)).fetchall():
                self._records[mid] = (Setup.model_validate_json(record), Outcome.model_validate_json(outcome))

    def _add_setup(
        self, mid: str, week_id: date, account: str, instrument: str, direction: str, conviction: int
    ) -> None:
        row = self._size
        if row == len(self._visible):
            self._grow()
        self._row[mid] = row
        self._ids.append(mid)
        self._week_ids.append(week_id)
        self._accounts.append(account)
        self._instrument[row] = self._code(instrument)
        self._direction[row] = self._code(direction)
        self._conviction[row] = conviction
        self._week[row] = np.datetime64(week_id, "D")
        self._visible[row] = _NEVER
        self._group[row] = -1
        self._size = row + 1

    def _add_vector(self, mid: str, visible: int, model: str, vector: Sequence[float] | None) -> None:
        if vector is None:
            return
        row = self._row[mid]
        values = np.asarray(vector, dtype=np.float32)  # the float4 values stored
        if values.shape != (HELD_DIMS,):
            self._group[row] = -1
            return
        key = values.tobytes()
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = len(self._groups)
            if group == len(self._vectors):
                grown = np.empty((max(64, 2 * group), HELD_DIMS))
                grown[:group] = self._vectors
                self._vectors = grown
                self._squares = np.resize(self._squares, len(grown))
            self._vectors[group] = values
            self._squares[group] = float(self._vectors[group] @ self._vectors[group])
        self._group[row] = group
        self._model[row] = self._code(model)
        self._text_visible[row] = visible

    def _outcome(self, setup_id: str, known: int) -> None:
        self._outcomes[setup_id] = known
        row = self._row.get(setup_id)
        if row is not None:  # the outcome's UPDATE of its setup, and the trigger's of the narrow row
            self._visible[row] = known
            self._text_visible[row] = known

    def _add_lesson(
        self, mid: str, week_id: date, account: str, known: datetime, text: str, instrument: str | None
    ) -> None:
        self._lessons.setdefault((week_id, account), []).append((mid, _micros(known), text))
        self._symbols.lesson(instrument, _micros(known), mid, week_id, text)

    def _grow(self) -> None:
        size = max(64, 2 * len(self._visible))
        for name in ("_instrument", "_direction", "_conviction", "_week", "_visible", "_group", "_model"):
            setattr(self, name, np.resize(getattr(self, name), size))
        self._text_visible = np.resize(self._text_visible, size)

    def _code(self, text: str) -> int:
        return self._codes.setdefault(text, len(self._codes))

    # ------------------------------------------------------------ reading

    def similar_setups(
        self,
        conn: psycopg.Connection,
        model: str,
        vector: VectorBytes,
        query: SetupQuery,
        *,
        as_of: datetime,
        limit: int,
        depth: int,
        rrf: int,
        history: ConditionHistory,
    ) -> tuple[Recollection, ...] | None:
        """memory/similar.py's answer for `query` (its text vector `vector`, as the statement is sent it, by `model`),
        `depth` deep, fused with `rrf`; `history` current. None when it is not proven here (a vector not of unit
        length, a naive as-of time, a repeated week): the caller runs the statement."""
        if as_of.utcoffset() is None:
            return None
        t = _micros(as_of)
        with self._lock:
            if not self._read:
                self._read_all(conn)
            # The numeric ranking first: the text ranking's near-ties are looked up only where they can change the
            # fused answer (held_ranking.undecided).
            numeric = self._numeric(query, history, as_of, t, depth)
            text = self._text(conn, model, vector, t, depth, (numeric, rrf, limit)) if numeric is not None else None
            if text is None or numeric is None:
                self.unproven += 1
                return None
            best = fused([text, numeric], rrf, limit)
            self._read_records(conn, [mid for mid, _ in best])  # read when stored: none left, unless forgotten since
            self.answered += 1
            return tuple(self._recollection(mid, s, rank, t) for rank, (mid, s) in enumerate(best, start=1))

    def _text(
        self,
        conn: psycopg.Connection,
        model: str,
        vector: VectorBytes,
        t: int,
        depth: int,
        fusion: tuple[Sequence[str], int, int],
    ) -> list[str] | None:
        n = self._size
        code = self._codes.get(model)
        if code is None:
            return []
        rows = np.flatnonzero((self._group[:n] >= 0) & (self._model[:n] == code) & (self._text_visible[:n] < t))
        if rows.size == 0:
            return []
        query = np.frombuffer(vector, ">f4", offset=4).astype(np.float64)
        held = len(self._groups)
        distances = cosine_distances(self._vectors[:held], self._squares[:held], query)
        if distances is None:
            return None
        ids = Picked(self._ids, rows)

        def exact(picked: list[int]) -> list[float]:
            teach_binary(conn)
            wanted = [ids[i] for i in picked]
            found = dict(conn.execute(_DISTANCES, {"v": vector, "ids": wanted}).fetchall())
            self.tied += 1
            return [found[mid] for mid in wanted]

        groups = self._group[rows]
        return text_ranking(ids, groups, distances[groups], depth, distance_error(HELD_DIMS), exact, fusion)

    def _numeric(
        self, query: SetupQuery, history: ConditionHistory, as_of: datetime, t: int, depth: int
    ) -> list[str] | None:
        n = self._size
        code = self._codes.get(query.instrument)
        if code is None:
            return []
        rows = np.flatnonzero((self._instrument[:n] == code) & (self._visible[:n] < t))
        other = self._direction[rows] != self._codes.get(str(query.direction), -1)
        gap = np.abs(self._conviction[rows] - query.conviction)
        if query.condition is None:
            weeks = np.full(rows.size, np.inf)
        else:
            lookup = week_lookup_at(history, query.condition, as_of)
            if lookup is None:
                return None
            weeks = week_distances(lookup, self._week[rows])
        return numeric_ranking(Picked(self._ids, rows), other, gap, weeks, depth)

    def symbol_contexts(
        self, conn: psycopg.Connection, instruments: Sequence[str], *, as_of: datetime, limit: int
    ) -> dict[str, tuple[Recollection, ...]] | None:
        """memory/recall.py `symbol_contexts`' answer (memory/held_notes.py); None where it is not proven here."""
        if as_of.utcoffset() is None or limit <= 0:
            return None
        t, zone = _micros(as_of), conn.info.timezone
        with self._lock:
            if not self._read:
                self._read_all(conn)
            if self._codepoint is None:
                self._codepoint = held_notes.codepoint_order(conn)
            codepoint = self._codepoint

            def rows_of(instrument: str) -> list[tuple[Any, ...]] | None:
                setups = self._setup_hits(instrument, t, limit)
                return self._symbols.rows(instrument, setups, t, limit, zone, codepoint)

            return held_notes.contexts(
                instruments, rows_of, lambda i, rows: context_of(i, rows, as_of=as_of, limit=limit)
            )

    def _setup_hits(self, instrument: str, t: int, limit: int) -> list[held_notes.SetupHit]:
        """The instrument's setups with an outcome known before `t` that `held_notes.newest` needs."""
        code, n = self._codes.get(instrument), self._size
        if code is None:
            return []
        rows = np.flatnonzero((self._instrument[:n] == code) & (self._visible[:n] < t))
        return held_notes.newest_setups(rows, self._visible, self._ids, limit, self._setup_hit)

    def _setup_hit(self, row: int) -> held_notes.SetupHit:
        mid, week_id = self._ids[row], self._week_ids[row]
        setup, outcome = self._records[mid]
        held = self._lessons.get((week_id, self._accounts[row]), ())
        return (int(self._visible[row]), mid, week_id, setup, outcome, held)

    def _recollection(self, mid: str, fused_sum: float, rank: int, t: int) -> Recollection:
        setup, outcome = self._records[mid]
        row = self._row[mid]
        held = self._lessons.get((self._week_ids[row], self._accounts[row]), ())
        lessons = tuple(text for _, known, text in sorted(held) if known < t)
        return Recollection(
            memory_id=mid,
            kind="setup",
            week_id=setup.week_id,
            rank=rank,
            score=1.0 / fused_sum,
            setup=setup,
            outcome=outcome,
            lessons=lessons,
        )
