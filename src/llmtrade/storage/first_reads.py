"""A sole writer's first reads of a week or a stream (storage/event_copies.py), made without writing what it holds.

A read the copies cannot answer used to flush first: the writer's held appends written then and there (a COPY, its
transaction, a wait for the flush in flight), so the table could answer. A first read needs less: the rows written, and
then the writer's held appends (flush in flight included: it commits whole, before or after the read's snapshot, and
what the read found committed is skipped), which are above every written one.
- A week no row of which is written (a backtest's week beginning): its held appends are the week, nothing is asked.
- A stream whose copy was dropped (Copies.drop_idle: a breaker read once in a few weeks): its rows written, then its
  held appends, the versions following on; anything else (a gap) is left to the flush and the read after it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from llmtrade.domain.events import StoredEvent
from llmtrade.storage.held_events import Held
from llmtrade.storage.sole_state import Sole

if TYPE_CHECKING:
    import psycopg

    from llmtrade.storage.event_copies import Copies


def unwritten(copies: Copies, conn: psycopg.Connection, week_id: date, sole: Sole) -> bool:
    """Whether the table holds no event of the week: it held none when its latest week was read (a later week then),
    and every event of the week ever fed to `copies` is still held by the sole writer (a row written since is one of
    them, no longer held: the writer is the table's only one). The latest week is read again by another writer and
    after anything was forgotten (Sole.forget: another writer may have been there)."""
    mark = copies.written_until
    if mark is None or mark[0] is not sole or mark[1] != sole.forgotten:
        forgotten = sole.forgotten
        row = conn.execute("SELECT max(week_id) FROM events").fetchone()
        mark = copies.written_until = (sole, forgotten, row[0] if row and row[0] is not None else date.min)
    if week_id <= mark[2]:
        return False
    fed = copies.fed_weeks.get(week_id, 0)
    return fed == 0 or fed == sum(1 for event in sole.held() if event.week_id == week_id)


def stream(
    copies: Copies, conn: psycopg.Connection, name: str, to_event: Callable[[Any], StoredEvent], sole: Sole
) -> Held | None:
    """The stream's copy, read without a flush: its rows written, then the writer's held appends of it; None (nothing
    kept) when those do not follow on version by version."""
    held = copies._stream(conn, name, to_event)
    if copies.streams.get(name) is not held:
        return None  # read again whole after a gap: left to the caller's flush
    last = held.events[-1].version if held.events else 0
    for event in sole.held():
        if event.stream == name and event.version > last:
            if event.version != last + 1:
                copies.streams.pop(name, None)
                return None
            held.add(event)
            last = event.version
    return held
