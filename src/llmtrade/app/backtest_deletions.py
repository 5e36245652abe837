"""The live books' side of `llmtrade backtest delete`: the intent recorded before a drop, the outcome after it, and the
settling of an intent a killed delete left without an outcome.

A DROP DATABASE cannot be undone, and the backtest's own record goes with it: a delete killed (SIGKILL, the OOM
killer, a power loss, the live books lost) between its drop and its record left nothing anywhere to say what had been
there. So, as an event-sourced system records a command's intent before its irreversible act: BacktestDeleting (or
SweepDeleting) is appended first, and nothing is dropped unless it is stored; then the drop; then BacktestDeleted (or
SweepDeleted) naming it. The deleting process holds a lease (storage/run_leases.py, keyed by the database) from before
the intent to after the outcome; PostgreSQL gives it back when that process's connection ends, however it ends.

An intent with no outcome whose lease is free is a delete that will never record one. `backtest list` and `backtest
delete` settle each such intent by asking the server, not assuming: the database (that very one: its oid) gone, the
drop happened, and the BacktestDeleted it lacks is recorded from the intent (`completed_later`); still there, the drop
never happened, and DeleteAbandoned is recorded, so every intent has one outcome and a rerun starts an intent of its
own. Each is judged holding its lease, with its outcome looked for again there: two commands settling at once record
it once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmtrade.app.backtest_books_results import DeletionSettled
from llmtrade.clock import Clock, SystemClock
from llmtrade.domain import streams
from llmtrade.domain.backtests_held import (
    BacktestDeleted,
    BacktestDeleting,
    DeleteAbandoned,
    SweepDeleted,
    SweepDeleting,
)
from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.errors import OperationalError, TemporaryError
from llmtrade.settings import Settings
from llmtrade.storage import run_leases
from llmtrade.storage.connection import connect
from llmtrade.storage.database import DatabaseLocation
from llmtrade.storage.database_list import database_oid

if TYPE_CHECKING:
    import psycopg

    from llmtrade.storage.bootstrap import Storage

Intent = BacktestDeleting | SweepDeleting
_INTENTS: dict[str, type[BacktestDeleting] | type[SweepDeleting]] = {
    BacktestDeleting.event_type(): BacktestDeleting,
    SweepDeleting.event_type(): SweepDeleting,
}
_OUTCOMES = [t.event_type() for t in (BacktestDeleted, SweepDeleted, DeleteAbandoned)]


@dataclass(frozen=True)
class Settled:
    """An intent given its outcome: the intent's event id, the outcome recorded and its event id."""

    intent_id: int
    intent: Intent
    outcome: EventPayload
    event_id: int


def shown(settled: Settled) -> DeletionSettled:
    """What `backtest list` and `delete` say of an intent settled now."""
    return DeletionSettled(
        name=settled.intent.name,
        database=settled.intent.database,
        kind="sweep" if isinstance(settled.intent, SweepDeleting) else "backtest",
        outcome="abandoned" if isinstance(settled.outcome, DeleteAbandoned) else "deleted",
        intent_id=settled.intent_id,
        event_id=settled.event_id,
    )


@contextmanager
def live_books(settings: Settings, clock: Clock | None) -> Iterator[Storage]:
    """The live books, open through a delete. Not opened: nothing can be intended, so nothing is dropped (exit 75)."""
    from llmtrade.exits import error_text
    from llmtrade.storage.bootstrap import open_storage  # lazy: migrations and the embedded server

    try:
        storage = open_storage(settings, clock or SystemClock())
    except Exception as exc:
        raise TemporaryError(
            f"the live books could not be opened to record the delete's intent: {error_text(exc)}; nothing was "
            "deleted, run the command again once they answer"
        ) from exc
    with storage:
        yield storage


@contextmanager
def leased(storage: Storage, database: str) -> Iterator[int]:
    """The lease of a delete of `database`, held on the live books' connection through the block."""
    key = run_leases.lease_key(f"backtest delete {database}")
    with storage.events.writing():
        taken = run_leases.take(storage.conn, key)
    if not taken:
        raise TemporaryError(
            f"another `backtest delete` of {database} is under way (it holds advisory lock {key:#x}): nothing was "
            "deleted; run the command again once it ends"
        )
    try:
        yield key
    finally:
        # A connection lost gave the lease back with it.
        with suppress(Exception), storage.events.writing():
            run_leases.release(storage.conn, key)


def intend(storage: Storage, intent: Intent) -> int:
    """Record `intent` in the live books: its event id. Not stored, nothing may be dropped (exit 75)."""
    from llmtrade.exits import error_text

    try:
        [stored] = storage.events.append([NewEvent.of(intent, stream=streams.BACKTESTS_DELETED)])
    except Exception as exc:
        raise TemporaryError(
            f"the intent to delete {intent.database} could not be recorded in the live books: {error_text(exc)}; "
            "nothing was deleted, run the command again once they answer"
        ) from exc
    return stored.id


def record(storage: Storage, outcome: EventPayload, intent_id: int) -> int:
    """Record the outcome of intent `intent_id`: its event id. What was dropped cannot be undone: a failure to record
    is said as such (exit 1), and the intent on record lets the next `backtest list` or `delete` record it."""
    from llmtrade.exits import error_text

    try:
        [stored] = storage.events.append([NewEvent.of(outcome, stream=streams.BACKTESTS_DELETED)])
    except Exception as exc:
        gone = getattr(outcome, "database", "")
        raise OperationalError(
            f"dropped {gone}, but the record of it could not be written to the live books: {error_text(exc)}; its "
            f"intent (event {intent_id}) is there, and the next `llmtrade backtest list` records it"
        ) from exc
    return stored.id


def judged(location: DatabaseLocation, intent_id: int, intent: Intent, *, later: bool, why: str = "") -> EventPayload:
    """The outcome of `intent`, asked of the server: its database (that oid) still there, DeleteAbandoned (`why`, or
    that the delete stopped before its drop); gone, what it intended. A backtest's folders are those gone now."""
    oid = database_oid(location, intent.database)
    there = oid is not None and (intent.oid is None or oid == intent.oid)
    if intent.drop and there:
        return DeleteAbandoned(
            intent=intent_id,
            name=intent.name,
            database=intent.database,
            reason=why or "its database is still there: the delete stopped before its drop",
        )
    if isinstance(intent, SweepDeleting):
        return intent.deleted(intent_id, later=later)
    removed = [f for f in intent.folders if not Path(f).exists() and not Path(f).is_symlink()]
    if not intent.drop and not removed:
        return DeleteAbandoned(
            intent=intent_id,
            name=intent.name,
            database=intent.database,
            reason=why or "nothing was removed: its database was gone already and its folders are still there",
        )
    return intent.deleted(intent_id, removed, later=later)


def settle_after_failure(
    storage: Storage, location: DatabaseLocation, intent_id: int, intent: Intent, exc: Exception
) -> None:
    """A drop that raised (refused as in use, its connection lost): its intent's outcome, asked of the server now.
    The server not answering, the intent is left for the next `backtest list` or `delete` to settle."""
    from llmtrade.exits import error_text

    with suppress(Exception):
        outcome = judged(location, intent_id, intent, later=False, why=error_text(exc))
        storage.events.append([NewEvent.of(outcome, stream=streams.BACKTESTS_DELETED)])


def settle(storage: Storage, location: DatabaseLocation) -> list[Settled]:
    """Settle every intent with no outcome whose lease is free (see the module's docstring): those settled now."""
    done: list[Settled] = []
    for intent_id, intent in _unsettled(storage.conn, storage):
        with storage.events.writing(), run_leases.claimed(storage.conn, intent.lease) as free:
            if not free or _has_outcome(storage.conn, intent_id):  # a delete under way, or settled meanwhile
                continue
            outcome = judged(location, intent_id, intent, later=True)
            [stored] = storage.events.append([NewEvent.of(outcome, stream=streams.BACKTESTS_DELETED)])
        done.append(Settled(intent_id, intent, outcome, stored.id))
    return done


def settle_if_any(settings: Settings, location: DatabaseLocation, clock: Clock | None = None) -> list[Settled]:
    """`settle` for a command that otherwise only reads (`backtest list`): one query of the live books, which are
    opened (and migrated) only when an intent is there to settle."""
    import psycopg.errors  # lazy, as in connect()

    try:
        with connect(location.url) as conn:
            if not _unsettled(conn, None):
                return []
    except psycopg.errors.UndefinedTable:  # live books never opened: no delete ever recorded there
        return []
    with live_books(settings, clock) as storage:
        return settle(storage, location)


def _unsettled(conn: psycopg.Connection, storage: Storage | None) -> list[tuple[int, Intent]]:
    """Each intent on record with no outcome, oldest first (the stream holds an event or two per delete)."""
    with storage.events.writing() if storage is not None else nullcontext():
        rows = conn.execute(
            """SELECT i.id, i.type, i.payload, i.schema_version FROM events i
                 WHERE i.stream = %s AND i.type = ANY(%s) AND NOT EXISTS (
                   SELECT 1 FROM events o WHERE o.stream = %s AND o.type = ANY(%s)
                     AND o.payload->>'intent' = i.id::text)
                 ORDER BY i.id""",
            (streams.BACKTESTS_DELETED, list(_INTENTS), streams.BACKTESTS_DELETED, _OUTCOMES),
        ).fetchall()
    return [(int(i), _read(str(t), p, int(v))) for i, t, p, v in rows]


def _read(kind: str, payload: Any, version: int) -> Intent:
    cls = _INTENTS[kind]
    return cls.model_validate(cls.upcast(payload, version))


def _has_outcome(conn: psycopg.Connection, intent_id: int) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM events WHERE stream = %s AND type = ANY(%s) AND payload->>'intent' = %s)",
        (streams.BACKTESTS_DELETED, _OUTCOMES, str(intent_id)),
    ).fetchone()
    return bool(row and row[0])
