"""Constants and helpers shared by several test modules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from llmtrade.clock import FixedClock
from llmtrade.settings import Settings
from llmtrade.storage import migrations
from llmtrade.storage.bootstrap import Storage, open_storage

if TYPE_CHECKING:
    import psycopg
    import pytest

FIXED_NOW = datetime(2026, 1, 7, 13, 0, tzinfo=UTC)  # Wednesday 08:00 New York
# The same Wednesday as the clock a command reads from LLMTRADE_NOW, so its run is that week's.
WEDNESDAY_8AM = "2026-01-07T08:00:00-05:00"


def stored_events(url: str, **filters: Any) -> list[Any]:
    """The events stored in the database at `url` that match `filters` (EventStore.read's), in order."""
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        return storage.events.read(**filters)


def migrate_around(
    conn: psycopg.Connection, url: str, number: int, fill: Callable[[Storage], None], monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """Bring the empty database at `url` (`conn`: autocommit) to the shipped migrations before `number`, `fill` it
    through storage opened there, then apply the rest: the numbers that last step applied (an existing database
    meeting a new migration)."""
    shipped = migrations.available()
    monkeypatch.setattr(migrations, "available", lambda: [m for m in shipped if m.number < number])
    migrations.migrate(conn)
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        fill(storage)
    monkeypatch.setattr(migrations, "available", lambda: shipped)
    return [m.number for m in migrations.migrate(conn)]
