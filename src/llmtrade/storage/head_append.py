"""Appending one record to a stream as read a moment ago: the way a refusal, a rejection or an alert's outcome is
recorded once however many processes meet it at the same moment."""

from __future__ import annotations

from collections.abc import Sequence

from llmtrade.domain.events import EventPayload, NewEvent, StoredEvent
from llmtrade.errors import ConcurrencyError
from llmtrade.storage.event_store import EventStore


def append_after(events: EventStore, stream: str, read: Sequence[StoredEvent], payload: EventPayload) -> bool:
    """Append `payload` to `stream` as the event after `read` (the stream as the caller just read it, in order);
    False, with nothing appended, when another process appended to it since (its record stands)."""
    try:
        events.append(
            [NewEvent.of(payload, stream=stream)], expected_versions={stream: read[-1].version if read else 0}
        )
    except ConcurrencyError:
        return False
    return True
