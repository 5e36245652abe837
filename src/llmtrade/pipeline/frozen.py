"""Write-once week streams: a stage's output is stored once per week and read back on any rerun.

This is what makes `run-weekly` resumable and idempotent: a stage that finds its stream already
written loads it instead of working again, and two runs racing to write it cannot both win (the
stream must be at version 0), so the loser reads the winner's output.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

from llmtrade.domain.events import EventPayload, NewEvent, StoredEvent
from llmtrade.errors import ConcurrencyError
from llmtrade.storage.event_store import EventStore


async def once(
    events: EventStore,
    stream: str,
    build: Callable[[], Awaitable[list[EventPayload]]],
    *,
    week_id: date,
    run_id: str,
    account_of: Callable[[EventPayload], str | None] = lambda _: None,
) -> tuple[list[StoredEvent], bool]:
    """The stream's events, building and appending them first if the stream is empty.

    Returns (events, built_now)."""
    stored = events.read_stream(stream)
    if stored:
        return stored, False
    payloads = await build()
    batch = [NewEvent.of(p, stream=stream, week_id=week_id, run_id=run_id, account_id=account_of(p)) for p in payloads]
    try:
        return events.append(batch, expected_versions={stream: 0}), True
    except ConcurrencyError:
        return events.read_stream(stream), False
