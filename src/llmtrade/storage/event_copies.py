"""In-process copies of the events a store's reads keep asking for, brought up to date by what is newer.

An account's events (the paper book, reconciliation, fills: several reads per stage, each over the
account's whole history), a set of types (the jobs done, the runs started) and a stream (a breaker,
the kill switch) are held here, and every read asks PostgreSQL only for what is newer than the copy:
a look costs the new events, not the history, and another process's appends are still seen.

Ids come from a sequence, and a transaction can commit a lower id after a higher one was read. A row
the last refresh did not see was written by a transaction still running then or begun since, so its
`txid` (migration 0010) is at least that refresh's snapshot xmin: an account's or a type's refresh is one
statement (one snapshot) asking for the rows written at or after the last snapshot's xmin (indexed with
the account and the type), which costs what is new and the transactions still recent then, not the
history (counting the selection's rows, as this once did, cost its history at every look). A row among
them at or below the highest id held, and not held (an id committed late), reloads the copy whole. A
stream's versions become visible densely and in order (the writer of version n+1 read n committed), so a
stream asks for the versions after its last. Callers keep nothing read inside a transaction (a rollback
could undo it): see EventStore.read.

Copies belong to the process, per database (its server, name, oid and the server's start time, so a
database dropped and made again is a new one): every job a drill or a backtest runs opens a store of
its own, and each would otherwise read the whole history again. A parsed payload is kept beside its
event, so a fold over the history does not validate every old event again.

A memoised fold (EventStore.fold: the paper book, the ids of our orders) is kept here beside the copy
it read and how many events of each type it has folded; the next call folds only the events the copy
gained since. A copy read again whole is a new Held, so a fold kept against the old one starts again.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from llmtrade.domain.events import EventPayload, StoredEvent
from llmtrade.storage import first_reads
from llmtrade.storage.event_columns import READ
from llmtrade.storage.held_events import Held
from llmtrade.storage.sole_state import Sole

if TYPE_CHECKING:
    import psycopg

P = TypeVar("P", bound=EventPayload)
S = TypeVar("S")
# Week copies the sole writer keeps (the week running, the one before, and one the audit may read).
_WEEKS_KEPT = 3


@dataclass
class Copies:
    """What one database's stores in this process have read; callers hold `lock` around every call."""

    # Reentrant: a read holding it may flush (Sole.flush), and a flush that fails empties the copies (SoleWriter._drop).
    lock: threading.RLock = field(default_factory=threading.RLock)
    counted: dict[tuple[str, object], Held] = field(default_factory=dict)
    streams: dict[str, Held] = field(default_factory=dict)
    # event id -> (the event, the payload class, the payload): the event itself is kept, so an
    # identity check tells a held event from a draft view's event that happens to share its id.
    parsed: dict[int, tuple[StoredEvent, type[EventPayload], EventPayload]] = field(default_factory=dict)
    # A memoised fold's key -> (the copy it read, how many events of each type it has folded, its state, the
    # copy's change count when that was so).
    folds: dict[Hashable, tuple[Held, dict[str, int], Any, int]] = field(default_factory=dict)
    # An event type -> the keys of the `("types", ...)` copies that hold it, for `feed`. A key stays listed
    # once its copy is gone (dropped, cleared): `feed` looks each one up in `counted`, and they are few.
    typed: dict[str, list[tuple[str, object]]] = field(default_factory=dict)
    # The streams read since the last `drop_idle`, and in the period before; the payloads parsed (or asked for) before
    # the last `drop_idle`, not since: what `drop_idle` forgets next unless used meanwhile. `pinned`: never forgotten.
    used_now: set[str] = field(default_factory=set)
    used_before: set[str] = field(default_factory=set)
    pinned: set[str] = field(default_factory=set)
    parsed_before: dict[int, tuple[StoredEvent, type[EventPayload], EventPayload]] = field(default_factory=dict)
    # The sole writers' appends per week, counted as `feed` is given them, and (the writer's Sole, its `forgotten`
    # then, the latest week the table held then) as read once: what tells `week` a week has no row (first_reads.py).
    fed_weeks: dict[date | None, int] = field(default_factory=dict)
    written_until: tuple[Sole, int, date] | None = None

    def drop_idle(self, sole: Sole | None) -> None:
        """Forget the stream copies no read asked for since the call before last (and not `pinned`), the folds kept
        over them, and the payloads parsed that long ago and not asked for since: a backtest calls this after each week,
        so a closed week's streams (its stages, checkpoints, memory parts: most of a week's events, never read once the
        next week is done) leave memory instead of piling up for the whole range. A copy is a cache: a stream read again
        after all is read from PostgreSQL (flushed first, as any read the copies cannot answer), the same events."""
        keep = self.used_now | self.used_before | self.pinned
        names = [name for name in self.streams if name not in keep]
        idle = [self.streams.pop(name) for name in names]
        if sole is not None:
            sole.current.difference_update(("stream", name) for name in names)
        if idle:
            gone = {id(held) for held in idle}
            self.folds = {key: kept for key, kept in self.folds.items() if id(kept[0]) not in gone}
        self.used_before, self.used_now = self.used_now, set()
        self.parsed_before, self.parsed = self.parsed, {}

    def fold_base(
        self, key: Hashable, held: Held, types: Sequence[str], start: S
    ) -> tuple[S, list[StoredEvent], tuple[dict[str, int], int]]:
        """The fold's last state, the events of `types` the copy `held` has gained since (ids ascending),
        and a mark of how far that makes it folded (for `fold_keep`).

        A copy read again whole (an id committed late, a lost flush, new types) is a new Held: the
        fold starts again from `start` over all of it, so a state never misses an event below its last.
        A copy that has not changed since the state was kept (most calls: a paper book is read several
        times between two of its account's events) gives the state back without looking at its lists."""
        kept = self.folds.get(key)
        if kept is not None and kept[0] is held and kept[3] == held.changes:
            return kept[2], [], (kept[1], kept[3])
        if kept is None or kept[0] is not held:
            state, seen = start, dict.fromkeys(types, 0)
        else:
            state, seen = kept[2], kept[1]
        by_type = held.by_type
        counts = {t: len(by_type.get(t, ())) for t in types}
        # Only a type that gained events is sliced (most calls: one type of a few, or none, is new).
        tails = [by_type[t][seen.get(t, 0) :] for t, n in counts.items() if n > seen.get(t, 0)]
        if not tails:
            if kept is not None and kept[0] is held:
                # The copy gained only other types: the state stands, now known current at this change.
                self.folds[key] = (held, counts, state, held.changes)
            return state, [], (counts, held.changes)
        if len(tails) == 1:
            return state, tails[0], (counts, held.changes)
        return state, list(heapq.merge(*tails, key=lambda e: e.id)), (counts, held.changes)

    def fold_keep(self, key: Hashable, held: Held, mark: tuple[dict[str, int], int], state: object) -> None:
        """Remember `state` as the fold of the first `counts` events of each type `held` holds, `mark` being
        (counts, the copy's change count then) as `fold_base` gave it."""
        counts, changes = mark
        self.folds[key] = (held, counts, state, changes)

    def account(
        self,
        conn: psycopg.Connection,
        account_id: str,
        types: list[str] | None,
        to_event: Callable[[Any], StoredEvent],
        sole: Sole | None = None,
    ) -> Held:
        """The account's events of `types` (None: all): an account's model calls are many and large, and
        most reads want its orders and fills, so a copy holds the types asked for so far."""
        wanted = None if types is None else frozenset(types)
        key = ("account", account_id)
        known = self.counted.get(key)
        if (
            sole is not None
            and known is not None
            and key in sole.current
            and (known.types is None or (wanted is not None and wanted <= known.types))
        ):
            return known
        if sole is not None:
            sole.flush()
        held = self._counted(conn, key, "account_id = %s", account_id, wanted, to_event, sole is not None)
        if sole is not None:
            sole.current.add(key)
        return held

    def types(
        self,
        conn: psycopg.Connection,
        types: list[str],
        to_event: Callable[[Any], StoredEvent],
        sole: Sole | None = None,
    ) -> Held:
        key = ("types", tuple(sorted(set(types))))
        known = self.counted.get(key)
        if sole is not None and known is not None and key in sole.current:
            return known
        if sole is not None:
            sole.flush()
        held = self._counted(conn, key, "type = ANY(%s)", list(key[1]), None, to_event, sole is not None)
        if sole is not None:
            sole.current.add(key)
        return held

    def week(self, conn: psycopg.Connection, week_id: date, to_event: Callable[[Any], StoredEvent], sole: Sole) -> Held:
        """The week's events, for the sole writer only (a run-due guard reads a week's first run per job).
        The last few weeks read are kept: a backtest moves on, and a week's model calls are large."""
        key = ("week", week_id)
        known = self.counted.get(key)
        if known is not None and key in sole.current:
            return known
        if known is None and first_reads.unwritten(self, conn, week_id, sole):
            # Not one of the week's events is written (a week the backtest is beginning): the week's appends held are
            # all its events, and nothing is asked (a round trip a week, which waited for the server).
            held = self.counted[key] = Held()  # kept, and fed, as a copy read from the table is
            for event in sole.held():
                if event.week_id == week_id:
                    held.add(event)
                    held.top, held.fed = max(held.top, event.id), True
        elif known is None:
            # A first read needs no flush: the week's rows written, then the week's appends the writer holds (ids above
            # every written one), as `feed` adds the later ones. A week's events then reach the database in the week's
            # one COPY, not also in one more per week for this read (its transaction, its round trips, its setval).
            # Nor does it wait for a flush in flight (storage/sole_writer.py `flush_behind`): its events are held too,
            # and those the read found committed (it commits whole, before or after the read's snapshot) are skipped.
            held = self._counted(conn, key, "week_id = %s", week_id, None, to_event, True)
            for event in sole.held():
                if event.week_id == week_id and not held.holds(event):
                    held.add(event)
                    held.top, held.fed = max(held.top, event.id), True
        else:
            sole.flush()
            held = self._counted(conn, key, "week_id = %s", week_id, None, to_event, True)
        sole.current.add(key)
        weeks = [k for k in self.counted if k[0] == "week" and k != key]
        for old in weeks[: max(0, len(weeks) - _WEEKS_KEPT + 1)]:
            self.counted.pop(old, None)
            sole.current.discard(old)
        return held

    def feed(self, events: list[StoredEvent], sole: Sole) -> None:
        """What the sole writer just committed, added to every copy it belongs to (ids ascending), so a
        current copy stays current without a query. A copy's top moves with it; a store that does ask
        later gets these rows back as written since its horizon, and finds them held."""
        counted = self.counted
        typed = self.typed
        weeks = self.fed_weeks
        for event in events:
            weeks[event.week_id] = weeks.get(event.week_id, 0) + 1
            # The copies an event belongs to, by key (its account's, its week's, those of its type) rather than
            # by asking every copy: this loop runs for every event a backtest appends.
            for key in (("account", event.account_id), ("week", event.week_id), *typed.get(event.type, ())):
                held = counted.get(key)
                if held is not None:
                    held.top = max(held.top, event.id)
                    held.fed = True
                    if held.types is None or event.type in held.types:
                        held.add(event)
            stream = self.streams.get(event.stream)
            if stream is not None:
                last = stream.events[-1].version if stream.events else 0
                if event.version == last + 1:
                    stream.add(event)
                else:  # not the next version: never expected, so the copy is read again
                    self.streams.pop(event.stream, None)
                    sole.current.discard(("stream", event.stream))
            sole.heads[event.stream] = event.version

    def _counted(
        self,
        conn: psycopg.Connection,
        key: tuple[str, object],
        where: str,
        value: object,
        wanted: frozenset[str] | None,
        to_event: Callable[[Any], StoredEvent],
        sole: bool,
    ) -> Held:
        """The copy of the rows `where` selects, refreshed. `sole`: the caller is the sole writer, which has just
        flushed, so what it fed the copy is written; anyone else reads a fed copy again whole (a sole writer's
        appends it may not have written are not its to see)."""
        known = self.counted.get(key)
        if known is not None and known.fed and not sole:
            known = None
        missing: list[str] = []  # types asked for and not held: read whole, beside the refresh of those held
        if known is not None and known.types is not None and (wanted is None or not wanted <= known.types):
            if wanted is None:
                known = None  # every type: the selection read again whole
            else:
                missing = sorted(wanted - known.types)
        known = known or Held(types=wanted)
        parts: list[str] = []
        params: list[Any] = []
        if known.horizon is None:
            parts.append(_whole(where, known.types))
            params += [value, *([sorted(known.types)] if known.types is not None else [])]
        else:
            # Every row the last read could see is held: one it could not was written by a transaction at or
            # after its snapshot's xmin. The types held are filtered past the fence (OFFSET 0): the planner must
            # not AND in a type index (the types' whole history) when the few rows found by txid are all it needs.
            held = "" if known.types is None else "WHERE type = ANY(%s)"
            parts.append(
                f"SELECT * FROM (SELECT {READ} FROM events WHERE {where} AND txid >= %s::xid8 OFFSET 0) r {held}"
            )
            params += [value, str(known.horizon), *([sorted(known.types)] if known.types is not None else [])]
            if missing:
                parts.append(_whole(where, frozenset(missing)))
                params += [value, missing]
        # One statement, one snapshot: its xmin (the next refresh's horizon) and the rows it adds.
        rows = conn.execute(
            f"""SELECT h.horizon, e.* FROM (
                    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon) h
                LEFT JOIN LATERAL ({" UNION ALL ".join(parts)}) e ON true
                ORDER BY e.id""",
            params,
        ).fetchall()
        top = known.top
        added: list[StoredEvent] = []
        new_types = frozenset(missing)
        for row in rows:
            if row[1] is None:
                continue  # the LEFT JOIN's row when nothing matched
            event = to_event(row[1:])
            if event.type in new_types:
                added.append(event)
            elif event.id <= known.top:
                if known.holds(event):
                    continue  # seen by the last read: its transaction was merely still recent then
                # An id at or below the highest held was committed since: start again from nothing.
                self.counted.pop(key, None)
                types = None if known.types is None else known.types | new_types
                return self._counted(conn, key, where, value, types, to_event, sole)
            else:
                known.add(event)
            top = max(top, event.id)
        if missing:
            known.merge(added, new_types)
        known.top, known.horizon, known.fed = top, int(rows[0][0]), False
        self.counted[key] = known
        if key[0] == "types":
            for type_ in key[1]:  # type: ignore[attr-defined]  # a types copy's value is a tuple of types
                keys = self.typed.setdefault(type_, [])
                if key not in keys:
                    keys.append(key)
        return known

    def stream(
        self,
        conn: psycopg.Connection,
        stream: str,
        to_event: Callable[[Any], StoredEvent],
        sole: Sole | None = None,
    ) -> Held:
        self.used_now.add(stream)
        if sole is not None:
            held = self.streams.get(stream)
            if held is not None and ("stream", stream) in sole.current:
                return held
            if held is None and sole.complete and stream not in sole.heads:
                held = self.streams[stream] = Held()  # no events yet: nothing to ask for
                sole.current.add(("stream", stream))
                return held
            # Every head known (nothing forgotten since: a writer that failed has, and its flush raises it).
            if held is None and sole.complete:
                held = first_reads.stream(self, conn, stream, to_event, sole)
                if held is not None:
                    sole.current.add(("stream", stream))
                    return held
            sole.flush()
            held = self._stream(conn, stream, to_event)
            sole.current.add(("stream", stream))
            return held
        return self._stream(conn, stream, to_event)

    def _stream(self, conn: psycopg.Connection, stream: str, to_event: Callable[[Any], StoredEvent]) -> Held:
        known = self.streams.get(stream) or Held()
        last = known.events[-1].version if known.events else 0
        rows = conn.execute(
            f"SELECT {READ} FROM events WHERE stream = %s AND version > %s ORDER BY version", (stream, last)
        ).fetchall()
        for row in rows:
            event = to_event(row)
            if event.version != last + 1:
                # Not the next version: never expected (versions are dense), so trust nothing held.
                self.streams.pop(stream, None)
                whole = Held()
                for again in conn.execute(f"SELECT {READ} FROM events WHERE stream = %s ORDER BY id", (stream,)):
                    whole.add(to_event(again))
                return whole
            known.add(event)
            last = event.version
        self.streams[stream] = known
        return known

    def payload(self, cls: type[P], event: StoredEvent) -> P:
        kept = self.parsed.get(event.id)
        if kept is None and (kept := self.parsed_before.pop(event.id, None)) is not None:
            self.parsed[event.id] = kept  # asked for again: kept through the next drop_idle
        if kept is not None and kept[0] is event and kept[1] is cls:
            return kept[2]  # type: ignore[return-value]  # kept for this class just above
        parsed = cls.from_event(event)
        self.parsed[event.id] = (event, cls, parsed)
        return parsed


_COPIES: dict[tuple[object, ...], Copies] = {}
_COPIES_LOCK = threading.Lock()


def copies_of(conn: psycopg.Connection) -> Copies:
    """The copies of the database `conn` is connected to (one query: which database it is)."""
    row = conn.execute(
        "SELECT oid, pg_postmaster_start_time() FROM pg_database WHERE datname = current_database()"
    ).fetchone()
    key = (conn.info.host, conn.info.port, conn.info.dbname, *(row or ()))
    with _COPIES_LOCK:
        return _COPIES.setdefault(key, Copies())


def _whole(where: str, types: frozenset[str] | None) -> str:
    """Every row `where` selects, of `types` (None: every type)."""
    return f"SELECT {READ} FROM events WHERE {where}" + ("" if types is None else " AND type = ANY(%s)")
