"""run-due's daily discovery forward returns failing for good: said once, not at every wake-up.

A failure that no wake-up will get past by itself (SPY's prices gone from the provider, its CSV file removed; a judged
candidate's alone is recorded as unmeasured: discovery/outcomes.py `priced`) was warned by each wake-up, so cron mailed
the same line every five minutes for good. Now it is recorded when said (ForwardReturnsFailureSaid, appended at the
version read: of two wake-ups at once, the one that records it says it), said again only when its text changes, and its
end -- a later wake-up filling them -- said once too. Between, a run-due without --quiet still says it lasts. A
temporary failure is not this: it is the wake-up's wait (exit 75).
"""

from __future__ import annotations

from llmtrade.app.container import Container
from llmtrade.domain.discovery import ForwardReturnsFailureSaid
from llmtrade.domain.streams import FORWARD_RETURNS_FAILED
from llmtrade.domain.wording import counted, market_time
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.head_append import append_after


def say_failed(app: Container, events: EventStore, error: str) -> None:
    """The forward returns failed for good with `error`: warned unless this error was the last said."""
    said = events.read_stream(FORWARD_RETURNS_FAILED)
    last = ForwardReturnsFailureSaid.from_event(said[-1]) if said else None
    if last is not None and last.error == error:
        app.say(f"discovery forward returns still not filled ({error}), as said at {market_time(said[-1].occurred_at)}")
        return
    if not append_after(events, FORWARD_RETURNS_FAILED, said, ForwardReturnsFailureSaid(error=error)):
        return  # another wake-up recorded one at the same moment: it says it
    app.warning(
        f"discovery forward returns not filled ({error}); each run-due tries again, and says so again only when "
        "this changes or they are filled"
    )


def say_filled(app: Container, events: EventStore, recorded: int) -> int:
    """The forward returns were filled (`recorded` of them now): the failure said last, if any, is said to be over.
    Returns `recorded`."""
    said = events.read_stream(FORWARD_RETURNS_FAILED)
    last = ForwardReturnsFailureSaid.from_event(said[-1]) if said else None
    if last is None or last.error is None:
        return recorded
    if append_after(events, FORWARD_RETURNS_FAILED, said, ForwardReturnsFailureSaid(error=None)):
        # None recorded now: a `discover` run by hand filled them since, with prices it had at hand.
        now = f" ({counted(recorded, 'return')} recorded now)" if recorded else ""
        when = market_time(said[-1].occurred_at)
        app.warning(f"discovery forward returns filled again{now}: the failure said at {when} is over")
    return recorded
