"""The append-only event store (DESIGN.md section 5).

Appends of one batch go in one transaction. Each stream's versions are dense and start at 1; (stream, version) is
unique in the table, so two writers racing on a stream cannot both win: the loser gets a ConcurrencyError instead of a
silently interleaved history.

Reads by account, by type or by stream are served from in-process copies brought up to date by what is newer
(storage/event_copies.py), so a look costs the new events, not the whole history.

A store opened `exclusive` (a backtest's, on a database no other process writes) hands its appends to
storage/sole_writer.py: held in memory (reads see them at once) and written by `flush` in one transaction, or by
`flush_behind` on the connection `behind` opens, while the caller goes on; a read the copies cannot answer flushes
first. Every other store writes at append.

`stage_timings=False` (a backtest's store) tells the pipelines that record on it to leave out StageStarted and
StageCompleted (pipeline/pipeline.py): under a stepped clock they say only how long a stage took on the wall clock,
noise that made two runs' bytes differ, and were over a quarter of its events (52 synthetic weeks: 44,548 -> 32,656
events; benchmarks/store_speed.py --compare lean). A failed stage's StageFailed is stored either way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from datetime import date
from typing import TYPE_CHECKING, TypeVar

from llmtrade.clock import Clock
from llmtrade.domain.events import EventPayload, NewEvent, StoredEvent
from llmtrade.domain.tracing import log_appended
from llmtrade.errors import ConcurrencyError
from llmtrade.storage.event_appends import IdTaken, append_once, settled
from llmtrade.storage.event_copies import Copies, copies_of
from llmtrade.storage.event_inserts import as_types, selected, to_event
from llmtrade.storage.held_events import Held, matching
from llmtrade.storage.sole_state import Sole
from llmtrade.storage.sole_writer import SoleWriter

if TYPE_CHECKING:
    import psycopg

    from llmtrade.storage.draft_events import DraftEventStore

# Each lost race on a stream's head means another writer appended; this many in a row is a livelock.
_HEAD_ATTEMPTS = 20
P = TypeVar("P", bound=EventPayload)
S = TypeVar("S")


class EventStore:
    def __init__(
        self,
        conn: psycopg.Connection,
        clock: Clock,
        *,
        exclusive: bool = False,
        stage_timings: bool = True,
        behind: Callable[[], psycopg.Connection] | None = None,
    ):
        self._conn = conn
        # Whether pipelines record each stage's start and end here (see the module's docstring); read by Pipeline.
        self.stage_timings = stage_timings
        self._clock = clock
        # One connection serves every thread of a command (accounts execute in parallel); a lock keeps each append's
        # transaction whole instead of interleaving statements from two threads.
        self._lock = threading.RLock()
        self._copies: Copies | None = None
        self._writer: SoleWriter | None = SoleWriter(conn, self._copies_held(), behind) if exclusive else None

    def append(
        self, events: Sequence[NewEvent], *, expected_versions: Mapping[str, int] | None = None
    ) -> list[StoredEvent]:
        """Append a batch atomically.

        Without an expected version a stream's events go after its current head, whatever it is by then: a writer in
        another process that takes the head first (the shared `market` stream, the kill switch) makes this one append
        after it, not fail. With one, the append fails with ConcurrencyError unless the stream is still at exactly
        that version."""
        if not events:
            return []
        expected = dict(expected_versions or {})
        for _ in range(_HEAD_ATTEMPTS - 1):
            try:
                if self._writer is not None:
                    return log_appended(self._writer.append(events, expected, self._clock.now()))
                return log_appended(self._append_once(events, expected))
            except ConcurrencyError as exc:
                if exc.stream in expected:
                    raise  # the caller asked for that version: losing it is the answer
            except IdTaken:
                continue  # the next try reads the heads again, and loses properly if a version was taken
        return log_appended(self._append_once(events, expected))

    def _append_once(self, events: Sequence[NewEvent], expected: Mapping[str, int]) -> list[StoredEvent]:
        return append_once(self._conn, self._lock, events, expected, self._clock.now(), self.stream_version)

    @property
    def holds_appends(self) -> bool:
        """Whether an append is held in memory (an `exclusive` store's, and a draft view's over one) rather than
        written to PostgreSQL then and there: it then costs no I/O, so a caller need not keep it off its event
        loop."""
        return self._writer is not None

    def writing(self) -> threading.RLock:
        """The connection's lock (EventSink.writing): one connection serves every thread of a command."""
        return self._lock

    def defer_flush(self, deferred: bool) -> None:
        """Whether this connection's commits wait for their WAL to reach the disk (PostgreSQL synchronous_commit).

        Deferred, a commit returns once it is in the server's WAL buffers (~0.3 ms instead of an fsync, several
        ms): the server flushes it within ~0.6 s (3 x wal_writer_delay). A crash of this process loses nothing;
        a crash of the server or the machine in that window loses the latest commits -- always a suffix of the
        commit order, never one before a later that survived, so what is left is what an earlier crash of this
        process would have left. Switched back, the next commit waits again and makes every earlier one durable
        with it. A sole writer (a backtest's) has nothing to switch."""
        if self._writer is not None:
            return
        # Under the lock: inside another thread's transaction the SET would roll back with it.
        with self._lock:
            self._conn.execute("SELECT set_config('synchronous_commit', %s, false)", ("off" if deferred else "on",))

    def stream_version(self, stream: str) -> int:
        """The version of the stream's last event; 0 for a stream with no events."""
        if self._writer is not None:
            return self._writer.head(stream)
        row = self._conn.execute("SELECT coalesce(max(version), 0) FROM events WHERE stream = %s", (stream,)).fetchone()
        return int(row[0]) if row else 0

    def read(
        self,
        *,
        week_id: date | None = None,
        run_id: str | None = None,
        type: str | Iterable[str] | None = None,
        account_id: str | None = None,
        stream: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """Events matching every given filter, oldest first."""
        # By type alone only when nothing narrower is asked: a run's or a week's events are few, a type's many.
        by_type = type is not None and week_id is None and run_id is None and limit is None
        writer = self._writer
        with self._lock, writer.lock if writer is not None else nullcontext():
            # The sole writer's copies hold its own appends, committed or not: no need to wait for a commit.
            by_week = writer is not None and week_id is not None and run_id is None
            if (account_id is not None or stream is not None or by_type or by_week) and (
                writer is not None or self._settled()
            ):
                copies = self._copies_held()
                with copies.lock:
                    sole = writer.state if writer is not None else None
                    # The filter a copy implies (its account's, its stream's) is not asked again of every event.
                    implied_account, implied_stream = account_id, stream
                    if account_id is None and stream is None and sole is not None and week_id is not None:
                        held = copies.week(self._conn, week_id, to_event, sole)
                    elif account_id is not None:
                        wanted = None if type is None else as_types(type)
                        held = copies.account(self._conn, account_id, wanted, to_event, sole)
                        implied_account = None
                    elif stream is not None:
                        held = copies.stream(self._conn, stream, to_event, sole)
                        implied_stream = None
                    else:
                        held = copies.types(self._conn, as_types(type), to_event, sole)
                    return matching(
                        held,
                        week_id=week_id,
                        run_id=run_id,
                        type=type,
                        account_id=implied_account,
                        stream=implied_stream,
                        after_id=after_id,
                        limit=limit,
                    )
        filters = {"week_id": week_id, "run_id": run_id, "account_id": account_id, "stream": stream}
        sql, params = selected(filters, None if type is None else as_types(type), after_id, limit)
        with self._lock:
            self.flush()
            rows = self._conn.execute(sql, params).fetchall()
        return [to_event(row) for row in rows]

    def fold(
        self,
        key: Hashable,
        *,
        account_id: str,
        types: Sequence[str],
        start: S,
        step: Callable[[S, list[StoredEvent]], S],
    ) -> S:
        """`step(start, events)` over the account's events of `types` (oldest first), memoised per process.

        The state is kept under `key` (which must name `step`, `start` and everything else the state
        depends on, the account and types aside) beside how far it has read; the next call passes only
        the events newer than that, so a call costs what is new, not the history. `step` must not change
        the state it is given (return a new one): every caller gets the kept state itself. A copy read
        again whole (another process committed an id below ours late, a lost flush) starts the fold
        again; inside a transaction (a rollback could undo what is read) nothing is kept."""
        wanted = list(dict.fromkeys(types))
        return self._folded(
            ("fold", account_id, tuple(wanted), key),
            wanted,
            lambda: EventStore.read(self, account_id=account_id, type=wanted),
            lambda copies, sole: copies.account(self._conn, account_id, wanted, to_event, sole),
            start,
            step,
        )

    def fold_stream(
        self,
        key: Hashable,
        *,
        stream: str,
        types: Sequence[str],
        start: S,
        step: Callable[[S, list[StoredEvent]], S],
    ) -> S:
        """`fold` over one stream's events of `types` (oldest first) instead of an account's: memoised the same
        way, so a stream read after every job (a week's orders) costs its new events, not its history."""
        wanted = list(dict.fromkeys(types))
        memo = ("fold_stream", stream, tuple(wanted), key)
        read, writer = (lambda: EventStore.read(self, stream=stream, type=wanted)), self._writer
        held = lambda copies, sole: copies.stream(self._conn, stream, to_event, sole)  # noqa: E731
        if writer is None:
            return self._folded(memo, wanted, read, held, start, step)
        with self._lock, writer.lock:  # a sole writer's stream with its head unmoved: the state kept (Sole.stream_fold)
            return writer.state.stream_fold(memo, stream, lambda: self._folded(memo, wanted, read, held, start, step))

    def _folded(
        self,
        memo: Hashable,
        wanted: list[str],
        stored: Callable[[], list[StoredEvent]],
        held_of: Callable[[Copies, Sole | None], Held],
        start: S,
        step: Callable[[S, list[StoredEvent]], S],
    ) -> S:
        """`fold`'s and `fold_stream`'s memo: `stored()` reads the events whole where nothing may be kept (the stored
        events only, not a draft's: a draft adds its own after); `held_of(copies, sole)` is the held copy to fold."""
        writer = self._writer
        with self._lock, writer.lock if writer is not None else nullcontext():
            if writer is None and not self._settled():
                return step(start, stored())
            copies = self._copies_held()
            with copies.lock:
                held = held_of(copies, writer.state if writer is not None else None)
                state, new, mark = copies.fold_base(memo, held, wanted, start)
            if not new:
                return state
            state = step(state, new)
            with copies.lock:
                copies.fold_keep(memo, held, mark, state)
            return state

    def flush(self, conn: psycopg.Connection | None = None) -> None:
        """Write what an exclusive store holds (storage/sole_writer.py; on `conn` from now on when given: its own
        left unusable); nothing to do for any other. ConcurrencyError when another writer took a held version."""
        if self._writer is not None:
            self._writer.flush(conn)

    def flush_behind(self) -> None:
        """`flush`, run behind on an exclusive store's own connection while the caller goes on (sole_writer.py)."""
        if self._writer is not None:
            self._writer.flush_behind()

    def written_behind(self) -> bool:
        """Wait for the flushes run behind: whether every one committed (one failed: every later flush raises it)."""
        try:
            if self._writer is not None:
                self._writer.wait()
        except Exception:
            return False
        return True

    def drop_idle_copies(self) -> None:
        """Forget the in-process copies of streams no read asked for since the call before last (and the payloads
        parsed that long ago): storage/event_copies.py `Copies.drop_idle`. A backtest calls it after each week."""
        writer = self._writer
        with self._lock, writer.lock if writer is not None else nullcontext():
            copies = self._copies_held()
            with copies.lock:
                copies.drop_idle(writer.state if writer is not None else None)

    def keep_stream(self, stream: str) -> None:
        """Keep the stream's copy through `drop_idle_copies`, read or not: for a read that comes once in a while (the
        backtest's leaderboard reads the backtest stream at the end, from memory)."""
        with self._lock:
            copies = self._copies_held()
            with copies.lock:
                copies.pinned.add(stream)

    def close(self) -> None:
        """An exclusive store's writes behind waited for, what it holds unwritten forgotten (it closes without a
        flush) and its own connection closed; nothing for any other store (the connection is the caller's)."""
        if self._writer is not None:
            self._writer.close()

    def read_stream(self, stream: str) -> list[StoredEvent]:
        writer = self._writer
        if writer is None:
            return self.read(stream=stream)
        # A sole writer's stream copy is the answer as it is (what `read` would pick and filter, without its
        # general path's filters: some five reads a job). A draft view adds its own appends (DraftEventStore).
        with self._lock, writer.lock:
            copies = self._copies_held()
            with copies.lock:
                return list(copies.stream(self._conn, stream, to_event, writer.state).events)

    def _settled(self) -> bool:
        """Whether the connection is outside a transaction, so every row a read sees is committed."""
        return settled(self._conn)

    def payload(self, cls: type[P], event: StoredEvent) -> P:
        """`cls.from_event(event)`, parsed once per event this process has read from the database.

        Raises what from_event raises (ValueError for an event of another type)."""
        copies = self._copies
        if copies is None:
            return cls.from_event(event)
        return copies.payload(cls, event)

    def _copies_held(self) -> Copies:
        if self._copies is None:
            self._copies = copies_of(self._conn)
        return self._copies

    def count(self) -> int:
        with self._lock:
            self.flush()
            row = self._conn.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0

    def week_ids(self, type: str | Iterable[str]) -> list[date]:
        """The weeks with an event of `type`, oldest first: a reader going week by week holds one week at a time."""
        with self._lock:
            self.flush()
            sql = "SELECT DISTINCT week_id FROM events WHERE type = ANY(%s) AND week_id IS NOT NULL ORDER BY week_id"
            return [row[0] for row in self._conn.execute(sql, (as_types(type),)).fetchall()]

    def draft(self) -> DraftEventStore:
        """A view of this store whose appends stay in memory: for dry runs and read-only commands.

        The code under it runs exactly as it would for real (it reads back what it appended, streams
        keep their versions), but nothing reaches the database."""
        from llmtrade.storage.draft_events import DraftEventStore  # a subclass of this one: imported here

        draft = DraftEventStore(self._conn, self._clock)
        draft._writer = self._writer  # reads what the store holds; the draft's own appends never reach it
        draft.stage_timings = self.stage_timings  # a dry run records what the real run would
        return draft
