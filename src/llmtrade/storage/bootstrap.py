"""Open the database a command needs: locate (or start) it, connect, migrate, hand out the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmtrade.clock import Clock
from llmtrade.errors import UsageError
from llmtrade.settings import Settings
from llmtrade.storage import bulk_load, handover, migrations
from llmtrade.storage.connection import connect
from llmtrade.storage.database import DatabaseLocation, locate
from llmtrade.storage.event_store import EventStore

if TYPE_CHECKING:
    import psycopg


@dataclass
class Storage:
    location: DatabaseLocation
    conn: psycopg.Connection
    events: EventStore
    migrated_now: list[migrations.Migration]
    live: bool = False  # located from the settings (the live books), not a location the caller chose

    def close(self) -> None:
        # The command line's metrics step reuses the live connection when it is on (storage/handover.py).
        if not (self.live and handover.park(self.conn)):
            self.conn.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_opened = 0  # databases this process opened: the command line writes its metrics after a command that opened one


def opened_count() -> int:
    return _opened


def open_storage(settings: Settings, clock: Clock, *, location: DatabaseLocation | None = None) -> Storage:
    """Connect and bring the schema up to date; migrations run automatically on every open. A database the caller
    names (a backtest's own) also gets back the indexes a killed backtest left unbuilt (storage/bulk_load.py); the
    live books (no `location`) never lose them, and their open asks nothing more."""
    global _opened
    where = location or locate(settings)
    conn = connect(where.url)
    try:
        _refuse_other_encodings(conn, where)
        applied_now = migrations.migrate(conn)
        if location is not None:
            bulk_load.build(conn)
    except BaseException:
        conn.close()
        raise
    _opened += 1
    return Storage(where, conn, EventStore(conn, clock), applied_now, live=location is None)


def _refuse_other_encodings(conn: psycopg.Connection, where: DatabaseLocation) -> None:
    """UsageError (exit 2) for a database whose encoding is not UTF8 (a server initialised under LANG=C makes
    SQL_ASCII databases; LATIN1 ones are made on purpose). Events hold model answers and theses in any language, and
    even an offline answer's quotes are not ASCII: in such a database every such write failed mid-run ('unsupported
    Unicode escape sequence', exit 1), after the migrations had made its tables. The server says the encoding when
    the session opens: this costs no round trip."""
    encoding = conn.info.parameter_status("server_encoding")
    if encoding is None or encoding == "UTF8":
        return
    name = conn.info.dbname
    raise UsageError(
        f"the database {name!r} on {where.description} is encoded {encoding}, not UTF8: llmtrade records "
        "texts in any language (model answers, theses, names). Give it a UTF8 database: CREATE DATABASE "
        f"{name}_utf8 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0 (a backtest's own database "
        "is made like the server's template1: create it so by hand), and point DATABASE_URL at it"
    )


@contextmanager
def events_apart(storage: Storage, clock: Clock) -> Iterator[EventStore | None]:
    """The live books on a connection of their own, for as long as the block, when a stop (Ctrl-C, SIGTERM) left
    `storage`'s busy: a statement sent and its answer never read, where psycopg refuses every later one ("another
    command is already in progress"). None when it is not busy, and for any books but the live ones (a backtest's
    sole writer keeps what it holds in memory and writes it on a connection of its own already:
    app/backtest_container.py `_keep`). The busy connection is left open: its session holds the run's lease until
    the command closes it, after what is written here."""
    from psycopg.pq import TransactionStatus  # lazy, as psycopg is everywhere here

    if not storage.live or storage.conn.closed or storage.conn.info.transaction_status is not TransactionStatus.ACTIVE:
        yield None
        return
    with connect(storage.location.url) as conn:
        yield EventStore(conn, clock)
