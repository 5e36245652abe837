"""The memory in PostgreSQL: `remember` appends the *Remembered events and projects them into the
pgvector tables (migration 0005) in one transaction; `rebuild` replays the events into empty tables.

The events are the source of truth; the tables are a projection that can be dropped and rebuilt at any
time (and must be, after a change of embedding model: `memory rebuild` re-embeds). Retrieval is in
memory/recall.py.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from psycopg.pq import TransactionStatus

from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.memory import (
    ConditionRemembered,
    LessonRemembered,
    OutcomeRemembered,
    Recollection,
    SetupRemembered,
    SymbolNoteRemembered,
)
from llmtrade.domain.streams import memory_stream
from llmtrade.memory import recall, similar
from llmtrade.memory.embedder import Embedder
from llmtrade.memory.held_setups import HELD_DIMS, HeldSetups
from llmtrade.memory.projection import StoredIds, item_text, kind_and_part, memory_id, project
from llmtrade.memory.projection import setup_text as setup_text  # where callers have long imported it from
from llmtrade.memory.protocol import Remembered, SetupQuery
from llmtrade.storage.draft_events import DraftEventStore
from llmtrade.storage.event_store import EventStore

if TYPE_CHECKING:
    import psycopg

    from llmtrade.domain.memory import MarketCondition

# Serialises writers of the memory across processes, so two reruns cannot both write one memory id.
_MEMORY_LOCK = 0x11_77_ADE5
TABLES = ("memory_items", "memory_outcomes", "memory_conditions", "memory_setups", "memory_lessons", "memory_symbols")
EVENT_TYPES = tuple(
    c.event_type()
    for c in (ConditionRemembered, SetupRemembered, OutcomeRemembered, LessonRemembered, SymbolNoteRemembered)
)
_EMBED_BATCH = 256


def _week_and_account(item: Remembered) -> tuple[date, str | None]:
    match item:
        case ConditionRemembered():
            return item.condition.week_id, None
        case SetupRemembered():
            return item.setup.week_id, item.setup.account_id
        case OutcomeRemembered():
            return item.outcome.week_id, item.outcome.account_id
        case LessonRemembered():
            return item.lesson.week_id, item.lesson.account_id
        case SymbolNoteRemembered():
            return item.note.week_id, None


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form (passed as text and cast, so no type registration is needed on the connection); the
    store itself writes the binary form (similar.VectorBytes), whose float4 bits are the same."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


@dataclass(frozen=True)
class RebuildCounts:
    """Rows written by a rebuild, per kind (events replayed)."""

    conditions: int
    setups: int
    outcomes: int
    lessons: int
    symbols: int


# The number of setups below which similar-setup reads scan exactly (see PgMemory._index_pays).
EXACT_BELOW = 20_000


class PgMemory:
    """`Memory` (memory/protocol.py) over PostgreSQL with pgvector.

    With a draft event store (dry runs, read-only commands) `remember` appends to the draft only and
    projects nothing: the tables hold only what the events in the database say."""

    def __init__(
        self,
        conn: psycopg.Connection,
        events: EventStore,
        embedder: Embedder,
        *,
        ef_search: int = 100,
        history: recall.ConditionHistory | None = None,
        stored_ids: StoredIds | None = None,
        held: HeldSetups | None = None,
    ):
        """`history`: the conditions held in the process, shared by memories over the same database (a backtest's
        jobs: each brings it up to date from the rows stored since, memory/history.py); else one of its own.
        `stored_ids`: the ids stored, shared likewise; used only while `events` holds its appends (then this process
        is the database's only writer, and every memory over it shares them), else the table is asked. Given with a
        shared `history`, that history is told of the conditions stored and not checked against the table again
        by `similar_conditions`.
        `held`: the setups and lessons held in the process (memory/held_setups.py), shared likewise and used on the same
        terms as `stored_ids` (with the shared `history`): similar-setups reads are answered from it, without a query,
        while the exact scan is what the statement would run."""
        self._conn = conn
        self._events = events
        self._embedder = embedder
        self._lock = threading.RLock()
        self._history = history or recall.ConditionHistory()
        self._stored_ids = stored_ids if stored_ids is not None and events.holds_appends else None
        # A history shared with the only writer's other memories is told of every condition they store.
        self._history_told = self._stored_ids is not None and history is not None
        self._held = held if self._history_told else None
        # The event store's connection lock, held for a whole remember/rebuild: a command's threads share one
        # connection, and another thread's append must not land inside (and roll back with) this transaction.
        self._store_lock = events.writing()
        self.ef_search = ef_search
        self._estimated_setups: float | None = None
        self._reads = 0

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    # ------------------------------------------------------------ writing

    def remember(self, items: Sequence[Remembered], *, week_id: date, run_id: str | None) -> None:
        """Append each item not yet stored as an event (stream `week:{week}:memory:{part}`) and project it, in
        one transaction. `week_id` is the run's week; each event carries its item's own week."""
        fresh: dict[str, Remembered] = {}
        for item in items:
            fresh.setdefault(memory_id(item), item)
        if not fresh:
            return
        draft = isinstance(self._events, DraftEventStore)
        with self._lock:
            stored = self._stored(list(fresh))
            todo = [item for mid, item in fresh.items() if mid not in stored]
            if not todo:
                return
            # Embed outside the transaction (a remote model may be slow); ids found stored meanwhile are dropped.
            vectors = self._embed_items(todo)
            if draft:
                self._events.append([self._new_event(item, run_id) for item in todo])
                return
            with self._store_lock:
                if self._events.holds_appends:
                    # Its database's only writer (a backtest's: storage/sole_writer.py, whose jobs remember one at a
                    # time): nothing can have been stored since the look above, so no lock and no second look. Its
                    # appends are held in memory, apart from any transaction, so they are made before the rows' block
                    # (one pipeline: where the writer could not flush, should it have to before it appends).
                    appended = self._events.append([self._new_event(item, run_id) for item in todo])
                    with self._written():
                        project(
                            self._conn, self._embedder, list(zip(todo, (e.id for e in appended), strict=True)), vectors
                        )
                else:
                    with self._conn.transaction():
                        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MEMORY_LOCK,))
                        stored = self._stored([memory_id(item) for item in todo])
                        todo = [item for item in todo if memory_id(item) not in stored]
                        appended = self._events.append([self._new_event(item, run_id) for item in todo])
                        project(
                            self._conn, self._embedder, list(zip(todo, (e.id for e in appended), strict=True)), vectors
                        )
            if self._stored_ids is not None:
                # Committed, unless this transaction was nested in the caller's (which may yet roll back).
                committed = self._conn.info.transaction_status == TransactionStatus.IDLE
                if committed:
                    self._stored_ids.add([memory_id(item) for item in todo])
                    if self._held is not None:
                        self._held.stored(self._conn, todo, vectors, self._embedder.model, self._embedder.dims)
                    conditions = [
                        (i.condition, e.id)
                        for i, e in zip(todo, appended, strict=True)
                        if isinstance(i, ConditionRemembered)
                    ]
                    if conditions:
                        self._history.stored(
                            [_condition_row(c, self._conn.info.timezone) for c, _ in conditions],
                            [event_id for _, event_id in conditions],
                        )
                else:
                    self._stored_ids.forget()
                    self._history.forget()
                    if self._held is not None:
                        self._held.forget()

    @contextlib.contextmanager
    def _written(self) -> Iterator[None]:
        """The block that writes a sole writer's rows, in one transaction and, on an idle connection, one round trip:
        BEGIN, the rows and COMMIT in one pipeline, where `transaction()` costs BEGIN, a sync per table written and
        COMMIT (three to five round trips; ten a weekly run, four a postmortem). A failure in the block (COMMIT not
        sent) or a statement the server refused (it skips the rest of the pipeline, COMMIT too) leaves the
        transaction open: rolled back here. A caller's transaction left open keeps `transaction()`'s savepoint,
        which the caller's rollback undoes."""
        conn = self._conn
        if not (conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE):
            with conn.transaction():
                yield
            return
        try:
            with conn.pipeline():
                conn.execute("BEGIN")
                yield
                conn.execute("COMMIT")
        finally:
            if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
                conn.execute("ROLLBACK")

    def rebuild(self) -> RebuildCounts:
        """Empty the memory tables and replay every *Remembered event into them (upcast as stored), embedding
        with the current embedder. Deterministic: the same events give the same rows."""
        with self._lock:
            events = self._events.read(type=list(EVENT_TYPES))
            items = [_payload(event) for event in events]
            vectors = self._embed_items(items)
            counts = {k: 0 for k in ("condition", "setup", "outcome", "lesson", "symbol")}
            with self._store_lock, self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MEMORY_LOCK,))
                self._conn.execute(f"TRUNCATE {', '.join(TABLES)}")
                if self._stored_ids is not None:
                    self._stored_ids.forget()
                    self._history.forget()
                if self._held is not None:
                    self._held.forget()
                seen: set[str] = set()
                batch: list[tuple[Remembered, int]] = []
                for item, event in zip(items, events, strict=True):
                    mid = memory_id(item)
                    if mid in seen:
                        continue  # a duplicate from a race before the lock existed: the first one stands
                    seen.add(mid)
                    batch.append((item, event.id))
                    counts[kind_and_part(item)[0]] += 1
                project(self._conn, self._embedder, batch, vectors)
        return RebuildCounts(
            conditions=counts["condition"],
            setups=counts["setup"],
            outcomes=counts["outcome"],
            lessons=counts["lesson"],
            symbols=counts["symbol"],
        )

    def _stored(self, ids: list[str]) -> set[str]:
        if self._stored_ids is not None:
            return self._stored_ids.among(self._conn, ids)
        rows = self._conn.execute("SELECT memory_id FROM memory_items WHERE memory_id = ANY(%s)", (ids,)).fetchall()
        return {r[0] for r in rows}

    def _embed_items(self, items: Sequence[Remembered]) -> dict[str, list[float]]:
        texts = [(memory_id(item), text) for item in items if (text := item_text(item)) is not None]
        out: dict[str, list[float]] = {}
        for start in range(0, len(texts), _EMBED_BATCH):
            chunk = texts[start : start + _EMBED_BATCH]
            vectors = self._embedder.embed([t for _, t in chunk])
            out.update((mid, v) for (mid, _), v in zip(chunk, vectors, strict=True))
        return out

    def _new_event(self, item: Remembered, run_id: str | None) -> NewEvent:
        _, part = kind_and_part(item)
        week, account = _week_and_account(item)
        return NewEvent.of(item, stream=memory_stream(week, part), week_id=week, account_id=account, run_id=run_id)

    # ------------------------------------------------------------ reading (memory/recall.py)

    def similar_setups(self, query: SetupQuery, *, as_of: datetime, limit: int) -> tuple[Recollection, ...]:
        with self._lock:
            if self._held is not None and limit > 0 and self._embedder.dims == HELD_DIMS and not self._index_pays():
                found = self._held_setups(query, as_of=as_of, limit=limit)
                if found is not None:
                    return found
            return recall.similar_setups(
                self._conn,
                self._embedder,
                query,
                as_of=as_of,
                limit=limit,
                history=self._history,
                ef=self.ef_search,
                exact=not self._index_pays(),
            )

    def _held_setups(self, query: SetupQuery, *, as_of: datetime, limit: int) -> tuple[Recollection, ...] | None:
        """The statement's exact-scan answer from the held setups; None where they cannot prove it."""
        if query.condition is not None and self._history.version is None:
            self._history.refresh(self._conn, self._history.read_version(self._conn))
        return self._held.similar_setups(  # type: ignore[union-attr]
            self._conn,
            self._embedder.model,
            similar.query_vector(self._embedder, query),
            query,
            as_of=as_of,
            limit=limit,
            depth=max(limit * similar.CANDIDATES, similar.MIN_DEPTH),
            rrf=similar.RRF_K,
            history=self._history,
        )

    def prepare_similar_setups(self, *, as_of: datetime, limit: int) -> None:
        with self._lock:
            if self._held is not None and self._embedder.dims == HELD_DIMS and not self._index_pays():
                return  # the held setups answer the reads: no statement to plan
            recall.prepare_similar_setups(
                self._conn, self._embedder, as_of=as_of, limit=limit, ef=self.ef_search, exact=not self._index_pays()
            )

    def _index_pays(self) -> bool:
        """Whether the setups are many enough for the HNSW index. Below EXACT_BELOW an exact scan costs about what
        the index does and is exact: the index's graph depends on random draws made while it was built, so two
        databases holding the same memories (two runs of one backtest) could otherwise rank near-ties differently.
        The planner's row estimate is read, not a count: it is free, and every few hundred reads it is read again; the
        sole writer's memories know the count (StoredIds)."""
        if self._stored_ids is not None:
            return self._stored_ids.setups(self._conn) >= EXACT_BELOW
        if self._estimated_setups is None or self._reads % 256 == 0:
            row = self._conn.execute(
                "SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'memory_setups'::regclass"
            ).fetchone()
            self._estimated_setups = float(row[0]) if row else 0.0
        self._reads += 1
        return self._estimated_setups >= EXACT_BELOW

    def similar_conditions(
        self, condition: MarketCondition, *, as_of: datetime, limit: int
    ) -> tuple[Recollection, ...]:
        with self._lock:
            return recall.similar_conditions(
                self._conn, condition, as_of=as_of, limit=limit, history=self._history, told=self._history_told
            )

    def symbol_context(self, instrument: str, *, as_of: datetime, limit: int) -> tuple[Recollection, ...]:
        with self._lock:
            return recall.symbol_context(self._conn, instrument, as_of=as_of, limit=limit)

    def symbol_contexts(
        self, instruments: Sequence[str], *, as_of: datetime, limit: int
    ) -> dict[str, tuple[Recollection, ...]]:
        with self._lock:
            if self._held is not None:  # the sole writer's memories: answered from what it holds, where proven
                found = self._held.symbol_contexts(self._conn, instruments, as_of=as_of, limit=limit)
                if found is not None:
                    return found
            return recall.symbol_contexts(self._conn, instruments, as_of=as_of, limit=limit)


def _payload(event: StoredEvent) -> Remembered:
    for cls in (ConditionRemembered, SetupRemembered, OutcomeRemembered, LessonRemembered, SymbolNoteRemembered):
        if event.type == cls.event_type():
            return cls.from_event(event)
    raise ValueError(f"event {event.id} ({event.type}) is not a memory event")


def _condition_row(condition: MarketCondition, zone: tzinfo) -> tuple[Any, ...]:
    """The memory_conditions row of `condition` as a read on a connection in time zone `zone` gives it back."""
    c = condition
    return (c.memory_id, c.week_id, c.known_at.astimezone(zone), c.session, list(c.names), list(c.values))
