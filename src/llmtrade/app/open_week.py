"""The live leaderboard's note for a week still open: its figures stop at the last close a run valued, while
`status` values the same accounts at the last close now, so mid-week the two differ (a new user met it unsaid)."""

from __future__ import annotations

from datetime import date

from llmtrade.domain.checkpoints import PostmortemCompleted
from llmtrade.domain.streams import postmortem_stream
from llmtrade.domain.weeks import week_id_for
from llmtrade.storage.event_store import EventStore


def open_week_note(events: EventStore, end: date) -> str | None:
    """A note when the week holding the leaderboard's last close has had no postmortem yet (it is still open); None
    when that week is closed."""
    week_id = week_id_for(end)
    if events.read(stream=postmortem_stream(week_id), type=PostmortemCompleted.event_type(), limit=1):
        return None
    return (
        f"the week of {week_id} is still open (no postmortem yet): its positions are valued at the close of {end}, "
        "the last a run valued; `status` values them at the last close now, so the two differ until a run (a "
        "checkpoint, the postmortem) values a later close"
    )
