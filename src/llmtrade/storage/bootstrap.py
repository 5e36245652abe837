"""Open the database a command needs: locate (or start) it, connect, migrate, hand out the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmtrade.clock import Clock
from llmtrade.settings import Settings
from llmtrade.storage import migrations
from llmtrade.storage.database import DatabaseLocation, connect, locate
from llmtrade.storage.event_store import EventStore

if TYPE_CHECKING:
    import psycopg


@dataclass
class Storage:
    location: DatabaseLocation
    conn: psycopg.Connection
    events: EventStore
    migrated_now: list[migrations.Migration]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_storage(settings: Settings, clock: Clock, *, location: DatabaseLocation | None = None) -> Storage:
    """Connect and bring the schema up to date; migrations run automatically on every open."""
    where = location or locate(settings)
    conn = connect(where.url)
    try:
        applied_now = migrations.migrate(conn)
    except BaseException:
        conn.close()
        raise
    return Storage(where, conn, EventStore(conn, clock), applied_now)
