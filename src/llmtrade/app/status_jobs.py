"""What `status` says of this week's and last week's jobs beyond the runs (app/queries.py `status`): the event
checkpoints a price move called for, the closings run-due put off past their deadline, the checkpoints missed."""

from __future__ import annotations

from datetime import date, timedelta

from llmtrade.app.due_jobs import done_keys
from llmtrade.app.results import ClosingPutOffLine, EventCheckpointLine
from llmtrade.domain.checkpoints import CheckpointsMissed, ClosingPutOff
from llmtrade.domain.streams import CLOSINGS_PUT_OFF, MISSED_CHECKPOINTS, week_stream
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.event_checkpoint import fired


def closings_put_off(events: EventStore, week_id: date) -> list[ClosingPutOffLine]:
    """Checkpoints of this week and last past their deadline whose closing run-due put off (ClosingPutOff) and which
    are still open, each with the last reason."""
    done = done_keys(events)
    latest: dict[str, ClosingPutOffLine] = {}
    for week in (week_id - timedelta(days=7), week_id):
        for e in events.read_stream(week_stream(week, CLOSINGS_PUT_OFF)):
            put_off = ClosingPutOff.from_event(e)
            for key in put_off.checkpoints:
                latest[key] = ClosingPutOffLine(job=key, reason=put_off.reason, at=e.occurred_at.isoformat())
    return [line for key, line in latest.items() if key not in done]


def event_checkpoint_lines(events: EventStore, week_id: date) -> list[EventCheckpointLine]:
    """The week's event checkpoints (workflows/event_checkpoint.py), each with whether it completed."""
    done = done_keys(events)
    return [
        EventCheckpointLine(
            job=t.key,
            account_id=t.account_id,
            symbol=t.symbol,
            move=t.move,
            reference_price=t.reference_price,
            reference_at=t.reference_at.isoformat(),
            price=t.price,
            price_at=t.price_at.isoformat(),
            completed=t.key in done,
        )
        for t in fired(events, week_id)
    ]


def checkpoints_missed(events: EventStore, week_id: date) -> list[str]:
    """The keys of this week's and last week's checkpoints recorded missed (CheckpointsMissed), oldest first."""
    return [
        key
        for week in (week_id - timedelta(days=7), week_id)
        for e in events.read_stream(week_stream(week, MISSED_CHECKPOINTS))
        for key in CheckpointsMissed.from_event(e).checkpoints
    ]
