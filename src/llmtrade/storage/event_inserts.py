"""How the event store's appends reach the table: one statement per batch where it can, and rows back as events
(and the statement of a read its copies cannot answer: `selected`).

A one-stream batch reads the head and inserts after it in one statement; a batch over several streams has its heads
read first and goes as one multi-row INSERT; inside a caller's transaction (a savepoint) the inserts are pipelined.
Each is atomic by itself, and a writer that took a version first is caught by the (stream, version) key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.records import assembled
from llmtrade.storage.event_columns import COLUMNS as _COLUMNS
from llmtrade.storage.event_columns import READ as _READ

if TYPE_CHECKING:
    import psycopg

_INSERT = f"""INSERT INTO events (type, stream, version, week_id, account_id, run_id, occurred_at, payload,
                                   schema_version)
              VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
              RETURNING {_COLUMNS}"""


# Rows one multi-row INSERT carries (9 parameters each, PostgreSQL takes 65,535 a statement).
MANY_AT_ONCE = 1000
_INSERT_MANY = f"""INSERT INTO events (type, stream, version, week_id, account_id, run_id, occurred_at, payload,
                                        schema_version)
                   VALUES {{values}}
                   RETURNING {_COLUMNS}"""


# The VALUES rows are inserted in their order (k), so their ids follow it, as the versions do.
_INSERT_AT_HEAD = f"""INSERT INTO events (type, stream, version, week_id, account_id, run_id, occurred_at, payload,
                                          schema_version)
    SELECT v.type, %s, h.head + v.k, v.week_id, v.account_id, v.run_id, v.occurred_at, v.payload, v.schema_version
    FROM (SELECT coalesce(max(version), 0) AS head FROM events WHERE stream = %s) AS h,
         (VALUES {{values}}) AS v(k, type, week_id, account_id, run_id, occurred_at, payload, schema_version)
    WHERE %s::int IS NULL OR h.head = %s::int
    ORDER BY v.k
    RETURNING {_COLUMNS}"""


def new_rows(events: Sequence[NewEvent], first: dict[str, int], occurred_at: datetime) -> list[tuple[Any, ...]]:
    """The INSERT parameters of `events`, each stream's numbered on from `first` (its next version), in order."""
    from psycopg.types.json import Jsonb  # lazy: keeps `llmtrade --help` free of psycopg

    next_version = dict(first)
    built: list[tuple[Any, ...]] = []
    for event in events:
        version = next_version[event.stream]
        next_version[event.stream] = version + 1
        payload = Jsonb(event.payload)
        built.append(
            (
                event.type,
                event.stream,
                version,
                event.week_id,
                event.account_id,
                event.run_id,
                occurred_at,
                payload,
                event.schema_version,
            )
        )
    return built


def inserted(conn: psycopg.Connection, rows: list[tuple[Any, ...]]) -> list[StoredEvent]:
    """Insert `rows` (one event each, in order) and return them as stored. A batch goes as one pipelined
    executemany: the inserts are sent together instead of one round trip each (a stage's dozen reviews, the
    risk gate's plan of every account, sat on the path between two model calls waiting for one apiece)."""
    if len(rows) == 1:
        return [to_event(conn.execute(_INSERT, rows[0]).fetchone())]
    stored: list[StoredEvent] = []
    with conn.cursor() as cur:
        cur.executemany(_INSERT, rows, returning=True)
        while True:
            stored.append(to_event(cur.fetchone()))
            if not cur.nextset():
                break
    return stored


def inserted_at_head(
    conn: psycopg.Connection, stream: str, events: Sequence[NewEvent], expected: int | None, occurred_at: Any
) -> list[StoredEvent] | None:
    """Insert `events` (all on `stream`, in order) after the stream's head as one statement, or nothing and None
    when `expected` is given and the head is not at it. The head is read in the statement's own snapshot; a writer
    that commits the same version first makes it fail on the (stream, version) key (UniqueViolation)."""
    from psycopg.types.json import Jsonb

    row = "(%s::int, %s::text, %s::date, %s::text, %s::text, %s::timestamptz, %s::jsonb, %s::int)"
    params: list[Any] = [stream, stream]
    for k, event in enumerate(events, start=1):
        params += [k, event.type, event.week_id, event.account_id, event.run_id, occurred_at]
        params += [Jsonb(event.payload), event.schema_version]
    params += [expected, expected]
    sql = _INSERT_AT_HEAD.format(values=", ".join([row] * len(events)))
    stored = sorted(map(to_event, conn.execute(sql, params).fetchall()), key=lambda e: e.version)
    return stored or None


def inserted_at_once(conn: psycopg.Connection, rows: list[tuple[Any, ...]]) -> list[StoredEvent]:
    """Insert `rows` (one event each, in order) as one multi-row INSERT statement (all or none, without a
    transaction around it) and return them as stored, in order. The VALUES rows are inserted in the order listed,
    so their ids follow it; RETURNING promises no order, so the stored rows are given back in `rows`' order by
    their (stream, version), which is unique. A batch too large for one statement's parameters goes as
    `inserted` does, in a transaction."""
    if len(rows) == 1:
        return [to_event(conn.execute(_INSERT, rows[0]).fetchone())]
    if len(rows) > MANY_AT_ONCE:
        with conn.transaction():
            return inserted(conn, rows)
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    flat = [value for row in rows for value in row]
    cursor = conn.execute(_INSERT_MANY.format(values=values), flat)
    returned = {(e.stream, e.version): e for e in map(to_event, cursor)}
    return [returned[(row[1], row[2])] for row in rows]


def as_types(type: str | Iterable[str] | None) -> list[str]:
    """A read's `type` argument (one type, several, or None: any) as the list `selected` takes."""
    return [] if type is None else [type] if isinstance(type, str) else list(type)


def selected(
    filters: dict[str, Any], types: list[str] | None, after_id: int | None, limit: int | None
) -> tuple[str, list[Any]]:
    """The SELECT of the events matching every filter given (column -> value, None: not asked), of `types`, after
    `after_id`, oldest first, at most `limit`; and its parameters."""
    where = [f"{column} = %s" for column, value in filters.items() if value is not None]
    params: list[Any] = [value for value in filters.values() if value is not None]
    if types is not None:
        where.append("type = ANY(%s)")
        params.append(types)
    if after_id is not None:
        where.append("id > %s")
        params.append(after_id)
    sql = f"SELECT {_READ} FROM events" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(limit)
    return sql, params


def to_event(row: Any) -> StoredEvent:
    """A row of `COLUMNS` as a StoredEvent (PostgreSQL's types are the fields' own: nothing to validate)."""
    id_, type_, stream, version, week_id, account_id, run_id, occurred_at, payload, schema_version = row
    return stored_event(id_, type_, stream, version, week_id, account_id, run_id, occurred_at, payload, schema_version)


# StoredEvent's fields, in its own order (a dict in another order would print and dump in that order).
_FIELDS = (
    "type",
    "stream",
    "payload",
    "week_id",
    "account_id",
    "run_id",
    "schema_version",
    "id",
    "version",
    "occurred_at",
)
_FIELD_SET = frozenset(_FIELDS)  # each event's fields set is a set of these (set() of a frozenset: the cheapest copy)
if tuple(StoredEvent.model_fields) != _FIELDS or tuple(NewEvent.model_fields) != _FIELDS[:7]:
    # A field added or moved: stored_event and stored_from must learn it first.
    raise RuntimeError(f"StoredEvent's fields are {tuple(StoredEvent.model_fields)}, stored_event builds {_FIELDS}")


def stored_event(
    id: int,
    type: str,
    stream: str,
    version: int,
    week_id: date | None,
    account_id: str | None,
    run_id: str | None,
    occurred_at: datetime,
    payload: dict[str, Any],
    schema_version: int,
) -> StoredEvent:
    """A StoredEvent of values that are already its fields' types (a validated NewEvent's, our own ids and
    versions, or a row PostgreSQL typed), built without validating them again: as `StoredEvent(...)` builds
    it (equal, same field order, every field set, frozen) at a quarter of the cost, which was a fair part of
    every held append and of every row read. `payload` is kept, not copied."""
    return _built(
        {
            "type": type,
            "stream": stream,
            "payload": payload,
            "week_id": week_id,
            "account_id": account_id,
            "run_id": run_id,
            "schema_version": schema_version,
            "id": id,
            "version": version,
            "occurred_at": occurred_at,
        }
    )


def _built(fields: dict[str, Any]) -> StoredEvent:
    """A StoredEvent of `fields` (every field, in the model's order), as model_construct makes one."""
    return assembled(StoredEvent, fields, set(_FIELD_SET))


def stored_from(event: NewEvent, id: int, version: int, occurred_at: datetime, payload: dict[str, Any]) -> StoredEvent:
    """`event` as stored at `id` and `version`, its payload being `payload` (see `stored_event`). A NewEvent's
    fields are a StoredEvent's first ones, in the same order: its values are taken as they are."""
    fields = event.__dict__.copy()
    fields["payload"] = payload
    fields["id"], fields["version"], fields["occurred_at"] = id, version, occurred_at
    return _built(fields)
