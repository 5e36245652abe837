"""The live leaderboard's note for a week still open: its figures stop at the last close a run valued, while
`status` values the same accounts at the last close now, so mid-week the two differ (a new user met it unsaid)."""

from __future__ import annotations

from datetime import date

from llmtrade.domain.runs import WeekCompleted
from llmtrade.domain.weeks import week_id_for
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.postmortem import postmortem_completion


def open_week_note(events: EventStore, end: date) -> str | None:
    """A note when the latest week run (its weekly run completed) has had no postmortem yet, the week holding the
    leaderboard's last close or one begun since (its orders may have filled after that close); None when it is
    closed."""
    week_id = open_week(events, end)
    if week_id is None:
        return None
    return (
        f"the week of {week_id} is still open (no postmortem yet): these figures value the books at the close of "
        f"{end}, the last a run valued; `status` values them at the last close now, so the two differ until a run (a "
        "checkpoint, the postmortem) values a later close"
    )


def open_week(events: EventStore, end: date) -> date | None:
    """The week `open_week_note` speaks of (the report marks it in its week list too), or None."""
    run = events.week_ids(WeekCompleted.event_type())
    if not run or run[-1] < week_id_for(end):
        return None
    week_id = run[-1]
    if postmortem_completion(events, week_id) is not None:
        return None
    return week_id
