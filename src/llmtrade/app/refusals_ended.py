"""The end of wake-ups' refusals on record: a RefusalsEnded event, by the first job command accepted after one.

A refusal (ConfigRejected, ClockBehindRefused, ClockSkewRefused) is recorded once while it lasts, and counted as
lasting until a later record says otherwise. A run's start did (RunStarted), but cron's wake-ups between jobs run
nothing and record nothing: a cron trial mended a configuration at 08:20, the machine was then off through 09:00 and
12:00, and the two checkpoints missed were said refused for the configuration (app/missed_reasons.py). The same gap hid
a refusal coming back: the configuration broken again with the same error was not recorded again. The first job
command accepted after a refusal (its configuration loaded, its clock right, the books agreeing: commands/context.py
`job`) now records that the refusals ended, once; later wake-ups find it and add nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmtrade.domain.runs import ClockBehindRefused, ClockSkewRefused, ConfigRejected, RefusalsEnded, RunStarted
from llmtrade.domain.streams import REFUSALS_ENDED
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.head_append import append_after

if TYPE_CHECKING:  # not imported: the container's modules import this one's (app/config_rejections.py)
    from llmtrade.app.container import Container

REFUSAL_TYPES = (ConfigRejected.event_type(), ClockBehindRefused.event_type(), ClockSkewRefused.event_type())
# What says a refusal recorded before it no longer holds: a run begun, or a command accepted (RefusalsEnded).
ENDS_REFUSALS = (RunStarted.event_type(), RefusalsEnded.event_type())


def unended(events: EventStore) -> int | None:
    """The id of the last refusal on record when nothing after it ends it (`ENDS_REFUSALS`), else None. Two reads of
    few events each: refusals are recorded once while they last, and the second is of one row at most."""
    refused = events.read(type=list(REFUSAL_TYPES))
    if not refused or events.read(type=list(ENDS_REFUSALS), after_id=refused[-1].id, limit=1):
        return None
    return refused[-1].id


def record_ended(events: EventStore, command: str) -> bool:
    """Record that refusals ended, accepted by `command`, when a refusal on record is `unended`; whether it was
    recorded now (False: none was, or another process recorded its end at the same moment)."""
    refusal_id = unended(events)
    if refusal_id is None:
        return False
    before = events.read_stream(REFUSALS_ENDED)
    return append_after(events, REFUSALS_ENDED, before, RefusalsEnded(command=command, refusal_id=refusal_id))


def refusals_ended(app: Container, command: str) -> None:
    """`record_ended` in the books of `app`, for a job command accepted (commands/context.py `job`) when its clock
    check found a refusal `unended` (app/clock_guard.py): a connection of its own, opened only then."""
    with app.storage() as storage:
        record_ended(storage.events, command)
