"""The model calls no week of the report holds: those of runs recorded with no week (a `council` question, a live
`ask`, a discover run in a week with no other record). Left out, the page's cost per week and its total summed short
of the calls the books hold and the budget counted: a trial's council question was billed and shown nowhere."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from llmtrade.app.report_records import OutsideCost
from llmtrade.app.report_week_costs import week_cost
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed, StoredEvent
from llmtrade.domain.wording import counted
from llmtrade.storage.event_store import EventStore

_CALLS = [LLMCallCompleted.event_type(), LLMCallFailed.event_type()]


def outside_cost(events: EventStore, starts: Sequence[StoredEvent]) -> OutsideCost | None:
    """The calls of the runs `starts` (their RunStarted events, no week's), by command; None when they made none.

    Each run's calls are read by its id (a run's events are few): the books' calls as a whole are hundreds of MB."""
    answered: list[StoredEvent] = []
    failed: list[StoredEvent] = []
    commands: Counter[str] = Counter()
    for start in starts:
        calls = events.read(run_id=start.run_id, type=_CALLS)
        if calls:
            commands[str(start.payload.get("command") or "run")] += 1
        answered += [e for e in calls if e.type == _CALLS[0]]
        failed += [e for e in calls if e.type == _CALLS[1]]
    if not commands:
        return None
    return OutsideCost(
        runs=tuple(f"{command} ({counted(n, 'run')})" for command, n in commands.items()),
        cost=week_cost(answered, failed),
    )
