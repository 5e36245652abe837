"""Constants and helpers shared by several test modules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from llmtrade.clock import FixedClock
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage

FIXED_NOW = datetime(2026, 1, 7, 13, 0, tzinfo=UTC)  # Wednesday 08:00 New York
# The same Wednesday as the clock a command reads from LLMTRADE_NOW, so its run is that week's.
WEDNESDAY_8AM = "2026-01-07T08:00:00-05:00"


def stored_events(url: str, **filters: Any) -> list[Any]:
    """The events stored in the database at `url` that match `filters` (EventStore.read's), in order."""
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        return storage.events.read(**filters)
