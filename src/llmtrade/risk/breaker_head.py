"""The head of an account's breaker stream (its version and its latest BreakerUpdated), read at the cost of
the events new since the last read, not the stream's history (issue 13: every valuation reads it, and the
stream gains a state most weeks).

What is kept per store and account is only ever a starting point: each read asks the store for the events
from the last one seen onwards, and carries on from it only when that event is still there with the same
id and version and the stream goes on from it version by version. A stream is append-only and its versions
are consecutive, so the kept head then describes the same prefix; anything else (a rolled-back write,
another database, a draft) reads the whole stream again. A store that holds its appends answers its heads
itself: a head at the kept version is the kept head, with no read at all.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from llmtrade.domain.breaker import BreakerUpdated
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.streams import breaker_stream
from llmtrade.storage.event_store import EventStore


@dataclass(frozen=True)
class BreakerHead:
    """The breaker stream as last read: its last event (None: empty stream) and its latest BreakerUpdated."""

    last: StoredEvent | None
    latest_update: StoredEvent | None

    @property
    def version(self) -> int:
        return self.last.version if self.last is not None else 0


_KIND = BreakerUpdated.event_type()
_lock = threading.Lock()
_kept: weakref.WeakKeyDictionary[EventStore, dict[str, BreakerHead]] = weakref.WeakKeyDictionary()


def breaker_head(events: EventStore, account_id: str) -> BreakerHead:
    """The account's breaker stream head now. Raises what the store's reads raise."""
    stream = breaker_stream(account_id)
    with _lock:
        kept = _kept.get(events, {}).get(account_id)
    if kept is not None and events.holds_appends and events.stream_version(stream) == kept.version:
        # A store holding its appends (a backtest's, its database's only writer) knows every stream's head without
        # a query, and nothing it holds is rolled back: the same version is the same stream, nothing to read.
        return kept
    head = _carried(events, stream, kept) if kept is not None and kept.last is not None else None
    if head is None:
        found = events.read_stream(stream)
        update = next((e for e in reversed(found) if e.type == _KIND), None)
        head = BreakerHead(last=found[-1] if found else None, latest_update=update)
    with _lock:
        _kept.setdefault(events, {})[account_id] = head
    return head


def appended(events: EventStore, account_id: str, stored: Sequence[StoredEvent]) -> None:
    """The kept head carried over `stored` (what `events.append` just gave back), where the account's breaker events
    among them continue it version by version: what a read right after the append would keep. Without it, a store
    holding its appends found the head moved at the next read and read the stream's new events back, which for a copy
    gone idle (a backtest drops a stream unread for a week) meant writing everything held and reading the whole
    stream again from PostgreSQL, at every valuation that changed the breaker. Anything else (no kept head for a
    stream not empty before, a gap) keeps what was kept, and the next read carries it on as before."""
    stream = breaker_stream(account_id)
    mine = [event for event in stored if event.stream == stream]
    if not mine or any(b.version != a.version + 1 for a, b in pairwise(mine)):
        return
    with _lock:
        heads = _kept.get(events)
        kept = heads.get(account_id) if heads is not None else None
        if mine[0].version != (kept.version if kept is not None else 0) + 1:
            return
        earlier = kept.latest_update if kept is not None else None
        update = next((e for e in reversed(mine) if e.type == _KIND), earlier)
        _kept.setdefault(events, {})[account_id] = BreakerHead(last=mine[-1], latest_update=update)


def _carried(events: EventStore, stream: str, kept: BreakerHead) -> BreakerHead | None:
    """`kept` carried on over the events after its last one, or None when the stream is not its continuation."""
    last = kept.last
    assert last is not None
    tail = events.read(stream=stream, after_id=last.id - 1)
    if not tail or tail[0].id != last.id or tail[0].version != last.version:
        return None
    if any(b.version != a.version + 1 for a, b in pairwise(tail)):
        return None
    update = next((e for e in reversed(tail[1:]) if e.type == _KIND), kept.latest_update)
    return BreakerHead(last=tail[-1], latest_update=update)
