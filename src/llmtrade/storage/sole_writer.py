"""The writes of an event store that is its database's only writer (a backtest's): held, then written at once.

A backtest appends some 700 events a week, most of them one at a time; one INSERT (and its commit) each
is most of a week's time. An `exclusive` store (storage/event_store.py) hands its appends here instead:
- versions come from each stream's head and ids from the table's highest id, both read once and then
  kept in memory, so an append costs no query; the append's StoredEvents are what the database will hold
  (their payloads in jsonb's key order and JSON's values, as a read from PostgreSQL would give them);
- the in-process copies (storage/event_copies.py) are fed at once, so every read by account, type or
  stream sees the append; a read the copies cannot answer (by run, a count) flushes first; a week's first
  read does not: it reads the week's written rows and adds the week's appends held here;
- `flush` writes everything held in one transaction (one COPY, ids given, the id sequence moved past
  them). The backtest flushes after each week's BacktestWeekDone, so a week
  is on disk whole or not at all, and a killed backtest resumes after the last week it finished;
- `flush_behind` (a writer given a connection of its own, `behind`) hands that transaction to the writer's
  thread (storage/write_behind.py) and returns: week N's COPY and commit run on the other connection
  (PostgreSQL's work, on the other core; the socket I/O releases the GIL) while week N+1 computes. The
  next `flush_behind`, any `flush` (a read that must ask PostgreSQL flushes first, so it waits) and `wait`
  wait for every write behind first, so writes stay in order and each connection has one thread. Until it
  commits its events are still held (`Sole.held`: a week's first read adds them to the rows written).

The unique (stream, version) key still guards the table: a writer that was not expected makes the flush
fail with ConcurrencyError, and everything held is dropped (memory and copies), so the next read asks
PostgreSQL again. A flush behind that fails is raised by the next wait for it, and by every flush after
(the writer stays failed: a job that catches ConcurrencyError as another writer's retry must not swallow
it for good, so the backtest's week-end flush raises it). The backtest holds an advisory lock on its
database so that cannot happen by accident.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.errors import ConcurrencyError
from llmtrade.storage.event_copies import Copies
from llmtrade.storage.event_inserts import stored_from
from llmtrade.storage.jsonb_read import as_read
from llmtrade.storage.sole_state import Sole
from llmtrade.storage.write_behind import Behind

if TYPE_CHECKING:
    import psycopg

_DUPLICATE_KEY = re.compile(r"\(stream, version\)=\((.*), (\d+)\)")
# Binary: PostgreSQL neither scans the text for escapes (a model call's record is ~4 KB) nor parses numbers, dates
# and instants, and psycopg writes them without formatting them (52 synthetic weeks' events, benchmarks/store_speed.py
# --compare format, median of 4: 1.02 -> 0.92 s of the server's CPU, 0.28 -> 0.15 s of ours; the same stored rows).
# A payload is still JSON text for jsonb to parse: jsonb's binary form is a version byte and the text.
_COPY = """COPY events (id, type, stream, version, week_id, account_id, run_id, occurred_at, payload,
                         schema_version) FROM STDIN (FORMAT BINARY)"""
_TYPES = ["bigint", "text", "text", "integer", "date", "text", "text", "timestamptz", "jsonb", "integer"]


class SoleWriter:
    """Appends held in memory until `flush`; `lock` is taken before the copies' lock, never after."""

    def __init__(
        self, conn: psycopg.Connection, copies: Copies, behind: Callable[[], psycopg.Connection] | None = None
    ):
        self.conn = conn
        self.copies = copies
        self.lock = threading.RLock()
        self.state = Sole(flush=self.flush, held=self._held)
        self.pending: list[tuple[StoredEvent, str]] = []
        self._next_id: int | None = None
        # The flushes run behind (storage/write_behind.py) on a connection `behind` opens, and the one in flight.
        self._behind = Behind(behind) if behind is not None else None
        self._inflight: _Inflight | None = None
        self._failed: BaseException | None = None  # a write behind's failure: raised by every later flush
        # How many of the held events a flush cut short (`flush`) may have written after all: asked by the next flush.
        self._unsure: int | None = None

    def _held(self) -> list[StoredEvent]:
        """Every event appended and not known committed, ids ascending: the flush in flight's, then those held."""
        inflight = self._inflight
        return [event for event, _ in (*(inflight.held if inflight is not None else ()), *self.pending)]

    def head(self, stream: str) -> int:
        with self.lock:
            return self.state.head(self.conn, stream)

    def next_id(self) -> int:
        """The id the next append gets (a draft view numbers its events from here)."""
        with self.lock:
            if self._next_id is None:
                self.flush()
                row = self.conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
                self._next_id = (int(row[0]) if row else 0) + 1
            return self._next_id

    def append(
        self, events: Sequence[NewEvent], expected: Mapping[str, int], occurred_at: datetime
    ) -> list[StoredEvent]:
        """The batch as the database will store it; ConcurrencyError when an expected version is not the head."""
        with self.lock:
            next_id = self._next_id if self._next_id is not None else self.next_id()
            state = self.state
            # Every head known (the usual case): read from memory, not asked for under the lock once per stream.
            head = state.heads.get if state.complete else None
            if len(events) == 1 and head is not None:
                # One event (most appends): `first_versions`' check, without its dict, for its one stream.
                (event,) = events
                now = head(event.stream, 0)
                if now != expected.get(event.stream, now):
                    raise ConcurrencyError(event.stream, expected[event.stream] + 1)
                payload, text = as_read(event.payload)
                one = stored_from(event, next_id, now + 1, occurred_at, payload)
                stored = [one]
                self.pending.append((one, text))
            else:
                next_version = first_versions(events, expected, self.head if head is None else lambda s: head(s, 0))
                stored, held = [], []
                for event in events:
                    version = next_version[event.stream]
                    next_version[event.stream] = version + 1
                    payload, text = as_read(event.payload)
                    one = stored_from(event, next_id + len(stored), version, occurred_at, payload)
                    stored.append(one)
                    held.append((one, text))
                self.pending.extend(held)  # the whole batch or none of it
            self._next_id = next_id + len(stored)
            with self.copies.lock:
                self.copies.feed(stored, state)
            return stored

    def flush(self, conn: psycopg.Connection | None = None) -> None:
        """Write every held event in one transaction (on `conn` from now on when given: app/backtest_container.py
        `_keep`). ConcurrencyError (everything held dropped) when another writer took one of their versions.

        A flush cut short otherwise (Ctrl-C or SIGTERM inside its COPY or COMMIT, the connection lost) holds its
        events again for the next flush (dropped, they left a gap before the stop's RunFailed: a trial's events 1-129
        and 511). Whether its COMMIT took effect is unknown (psycopg cancels on Ctrl-C; a COMMIT may complete all the
        same): the next flush asks for the last id first and writes them only if absent."""
        with self.lock:
            self.wait()
            self.conn = self.conn if conn is None else conn
            if self._unsure is not None:
                self._settle_unsure()
            if not self.pending:
                return
            held, self.pending = self.pending, []
            try:
                write(self.conn, held)
            except ConcurrencyError:
                self._drop()
                raise
            except BaseException:
                self.pending = [*held, *self.pending]
                self._unsure = len(held)
                raise

    def _settle_unsure(self) -> None:
        """After a flush cut short: its events (the first `_unsure` held) were written if the last of them is in the
        table (one transaction: all or none), and are then no longer held."""
        count, self._unsure = self._unsure or 0, None
        last = self.pending[count - 1][0].id
        if self.conn.execute("SELECT 1 FROM events WHERE id = %s", (last,)).fetchone() is not None:
            self.pending = self.pending[count:]

    def flush_behind(self) -> None:
        """`flush`, its transaction run behind (storage/write_behind.py) while the caller goes on; the flush before
        waited for first (ConcurrencyError when it failed). A writer without a connection of its own flushes now."""
        with self.lock:
            self.wait()
            if self._behind is None:
                self.flush()
                return
            if self._unsure is not None:
                self._settle_unsure()
            if not self.pending:
                return
            inflight = _Inflight(self.pending)
            # Held by the flush in flight from here (one step, no interrupt between): a Ctrl-C before it is handed over
            # leaves it unwritten, and the next wait holds its events again.
            self._inflight, self.pending = inflight, []
            self._behind.hand(inflight.write)

    def wait(self) -> None:
        """Wait for the writes behind: ConcurrencyError (or what else one raised) when one failed, with everything
        held dropped; raised again by every later wait, as the writer is failed from then on."""
        with self.lock:
            self._join()
            if self._failed is not None:
                raise self._failed

    def abandon(self) -> None:
        """Give up what is held and unwritten (the store is closing without a flush): this process's copies
        hold it too, and a later store on the same database must not read events that were never written.
        The writes behind are waited for first (each commits or not, whole); what failed is not raised here."""
        with self.lock:
            self._join()
            if self.pending:
                self._drop()

    def close(self) -> None:
        """`abandon`, then the writer's own connection closed."""
        with self.lock:
            self.abandon()
            if self._behind is not None:
                self._behind.close()

    def _join(self) -> None:
        if self._behind is None:
            return
        failed = self._behind.finish()
        inflight, self._inflight = self._inflight, None
        if failed is not None:
            if self._failed is None:
                self._failed = failed
                self._drop()
        elif inflight is not None and not inflight.written:
            self.pending = [*inflight.held, *self.pending]  # never handed over (a Ctrl-C): held again, in order

    def _drop(self) -> None:
        """Forget everything known without asking: another writer was there after all."""
        self.pending = []
        self._unsure = None
        self._next_id = None
        self.state.forget()
        with self.copies.lock:
            self.copies.counted.clear()
            self.copies.streams.clear()
            self.copies.folds.clear()


class _Inflight:
    """The events of a flush behind, held for reads until it has written them."""

    def __init__(self, held: list[tuple[StoredEvent, str]]):
        self.held = held
        self.written = False

    def write(self, conn: psycopg.Connection) -> None:
        write(conn, self.held)
        self.written = True


def write(conn: psycopg.Connection, held: Sequence[tuple[StoredEvent, str]]) -> None:
    """`held` (ids ascending, above every id written) in one transaction: one COPY, the id sequence moved past the
    last. ConcurrencyError when another writer took a version (or an id) of ours."""
    import psycopg.errors  # lazy, as everywhere in storage

    try:
        with conn.transaction(), conn.cursor() as cursor:
            copy_events(
                cursor,
                (
                    (
                        event.id,
                        event.type,
                        event.stream,
                        event.version,
                        event.week_id,
                        event.account_id,
                        event.run_id,
                        event.occurred_at,
                        text,
                        event.schema_version,
                    )
                    for event, text in held
                ),
            )
            cursor.execute("SELECT setval(pg_get_serial_sequence('events', 'id'), %s)", (held[-1][0].id,))
    except psycopg.errors.UniqueViolation as exc:
        # Another writer took a version (or an id) of ours: name the stream when PostgreSQL does.
        match = _DUPLICATE_KEY.search(exc.diag.message_detail or "")
        first = held[0][0]
        stream, version = (match.group(1), int(match.group(2))) if match else (first.stream, first.version)
        raise ConcurrencyError(stream, version) from exc


def copy_events(cursor: psycopg.Cursor[Any], rows: Iterable[tuple[Any, ...]]) -> None:
    """Write `rows` into events with one binary COPY: each row is (id, type, stream, version, week_id, account_id,
    run_id, occurred_at, payload as JSON text, schema_version). Raises what the COPY raises (UniqueViolation)."""
    cursor.adapters.register_dumper(None, _json_text_dumper())
    with cursor.copy(_COPY) as copy:
        copy.set_types(_TYPES)
        for row in rows:
            copy.write_row(row)


@cache
def _json_text_dumper() -> type:
    """A psycopg dumper of JSON text (a str) as jsonb's binary form, for a COPY that names its columns' types
    (psycopg's own jsonb dumper would write the str as a JSON string). The text goes in the connection's encoding,
    as a text COPY sends it, and the server converts it as it does any text."""
    from psycopg.adapt import Dumper
    from psycopg.postgres import types
    from psycopg.pq import Format

    class JsonTextBinaryDumper(Dumper):
        format = Format.BINARY
        oid = types["jsonb"].oid

        def __init__(self, cls: type, context: Any = None):
            super().__init__(cls, context)
            encoding = self.connection.info.encoding if self.connection is not None else "utf-8"
            self._encoding = "utf-8" if encoding == "ascii" else encoding  # SQL_ASCII: bytes as they are, as psycopg

        def dump(self, obj: str) -> bytes:
            return b"\x01" + obj.encode(self._encoding)

    return JsonTextBinaryDumper


def first_versions(
    events: Sequence[NewEvent], expected: Mapping[str, int], head: Callable[[str], int]
) -> dict[str, int]:
    """The version each stream of `events` is appended at: one past its `head`. ConcurrencyError when a
    stream's head is not the version `expected` names (a stream left out of `expected` takes any head)."""
    first: dict[str, int] = {}
    for event in events:
        if event.stream not in first:
            now = head(event.stream)
            want = expected.get(event.stream, now)
            if now != want:
                raise ConcurrencyError(event.stream, want + 1)
            first[event.stream] = now + 1
    return first
