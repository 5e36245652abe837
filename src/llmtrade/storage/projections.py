"""Derived tables, rebuilt from events on demand: they can always be dropped and recomputed."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from llmtrade.domain.checkpoints import AccountValued, PostmortemWritten
from llmtrade.domain.events import StoredEvent
from llmtrade.storage.event_store import EventStore

if TYPE_CHECKING:
    import psycopg


WEEK_START = "week start"


def week_start_valuation(events: EventStore, week_id: date, account_id: str) -> AccountValued | None:
    """The account's equity when the week's run began (its "week start" valuation), or None."""
    found = week_start_valued(events, week_id, account_id)
    return None if found is None else found[0]


def week_start_valued(events: EventStore, week_id: date, account_id: str) -> tuple[AccountValued, datetime] | None:
    """The account's "week start" valuation and when it was made, or None."""
    for event in events.read(week_id=week_id, account_id=account_id, type=AccountValued.event_type()):
        valued = AccountValued.from_event(event)
        if valued.occasion == WEEK_START:
            return valued, event.occurred_at
    return None


@dataclass
class _Projected:
    """What one connection's last projection left in week_summaries: (week, account) -> event id, and the
    newest PostmortemWritten id it had seen."""

    held: dict[tuple[date, str], int]
    seen: int


# Per connection (a backtest holds one for its whole length): what its last projection wrote, so the next one
# reads only the postmortems after it, as long as the table still holds exactly that.
_PROJECTED: weakref.WeakKeyDictionary[psycopg.Connection, _Projected] = weakref.WeakKeyDictionary()


def project_week_summaries(conn: psycopg.Connection, events: EventStore) -> int:
    """Bring week_summaries up to date with the PostmortemWritten events; returns the rows written.

    Each (week, account) row holds that week's latest postmortem (the one with the highest event id, as
    an upsert of every event in id order would leave it). Only rows the table does not already hold at
    that event are written, in one batch: a postmortem writes its own week's rows, not every week's again
    (a 520-week backtest would otherwise upsert 3,120 rows at its last postmortem).

    An event stamped with its week and account (as the postmortem's own are: the postmortem's week and
    account) is keyed by those columns, and only the events whose rows are written are parsed: the weeks
    already projected cost a look at their columns, not a postmortem each, at every later postmortem.

    On a connection that projected before, when the table still holds what that projection left (its row
    count and the sum of its event ids say so: rows deleted or rewritten since change them), only the
    postmortems written since are read; otherwise every one is, against the table's rows (a 520-week
    backtest's last postmortem read 3,120 events and rows for its own 6)."""
    known = _PROJECTED.get(conn)
    unchanged = known is not None and _unchanged(conn, known.held)
    # Read before the projection's transaction: a read may first write what a backtest's store holds
    # (storage/sole_writer.py), and inside it a failed projection would roll those events back with its rows.
    new = events.read(type=PostmortemWritten.event_type(), after_id=known.seen if known and unchanged else None)
    with conn.transaction():
        if known is not None and unchanged:
            held = dict(known.held)
        else:
            held = {
                (week_id, account_id): event_id
                for week_id, account_id, event_id in conn.execute(
                    "SELECT week_id, account_id, event_id FROM week_summaries"
                ).fetchall()
            }
        latest: dict[tuple[date, str], StoredEvent] = {}
        for event in new:
            if event.week_id is not None and event.account_id is not None:
                latest[(event.week_id, event.account_id)] = event
            else:
                pm = events.payload(PostmortemWritten, event).postmortem
                latest[(pm.week_id, pm.account_id)] = event
        changed = [
            (event.id, events.payload(PostmortemWritten, event).postmortem)
            for key, event in latest.items()
            if held.get(key) != event.id
        ]
        rows = [
            (
                pm.week_id,
                pm.account_id,
                pm.instrument,
                pm.direction,
                pm.start_equity,
                pm.end_equity,
                pm.week_pnl,
                pm.week_return,
                pm.realized_pnl,
                pm.unrealized_pnl,
                pm.instrument_return,
                event_id,
            )
            for event_id, pm in changed
        ]
        if rows:
            with conn.cursor() as cursor:
                cursor.executemany(
                    """INSERT INTO week_summaries (week_id, account_id, instrument, direction, start_equity,
                           end_equity, week_pnl, week_return, realized_pnl, unrealized_pnl, instrument_return,
                           event_id)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (week_id, account_id) DO UPDATE SET instrument = excluded.instrument,
                           direction = excluded.direction, start_equity = excluded.start_equity,
                           end_equity = excluded.end_equity, week_pnl = excluded.week_pnl,
                           week_return = excluded.week_return, realized_pnl = excluded.realized_pnl,
                           unrealized_pnl = excluded.unrealized_pnl,
                           instrument_return = excluded.instrument_return, event_id = excluded.event_id""",
                    rows,
                )
    held.update((key, event.id) for key, event in latest.items())
    _PROJECTED[conn] = _Projected(held, max([known.seen if known is not None else 0, *(e.id for e in new)]))
    return len(rows)


def _unchanged(conn: psycopg.Connection, held: dict[tuple[date, str], int]) -> bool:
    """Whether week_summaries holds as many rows as `held`, with the same sum of event ids."""
    row = conn.execute("SELECT count(*), coalesce(sum(event_id), 0) FROM week_summaries").fetchone()
    return row is not None and (int(row[0]), int(row[1])) == (len(held), sum(held.values()))
