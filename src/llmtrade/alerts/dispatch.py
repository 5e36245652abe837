"""Each incident to each URL once: skipped where its stream holds an AlertSent, else sent and recorded.

A send that fails is recorded (AlertFailed) and left for the next command; it never raises, so an
unreachable Discord cannot fail the cron job it reports on. An alert still owed GIVE_UP_AFTER after its first
failure is tried once more, and given up when that try fails too (AlertGivenUp, once): a cron every 5 minutes
otherwise tried, and said, each unsent alert at every wake-up for ever. Two processes checking at the same moment
may both send one alert (the services offer no idempotency key); only one AlertSent is kept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from llmtrade.alerts.incidents import Incident
from llmtrade.alerts.send import target_of
from llmtrade.domain.alerts import GIVE_UP_AFTER, AlertFailed, AlertGivenUp, AlertSent
from llmtrade.domain.streams import alert_stream
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.head_append import append_after

# (url, title, body) -> None when sent, else why not; alerts/send.py's `send` in production.
Sender = Callable[[str, str, str], str | None]


@dataclass(frozen=True)
class Dispatched:
    """What one check did: alerts sent, failed (to be retried), skipped as already sent or given up, and given up now
    (to be said once)."""

    sent: list[AlertSent]
    failed: list[AlertFailed]
    skipped: int
    given_up: list[AlertGivenUp] = field(default_factory=list)


def dispatch(
    events: EventStore, incidents: Sequence[Incident], urls: Sequence[str], sender: Sender, now: datetime | None = None
) -> Dispatched:
    """Send each incident to each URL unless done; `now` (the clock's) decides which failing ones are given up if their
    last try fails (None: none is)."""
    sent: list[AlertSent] = []
    failed: list[AlertFailed] = []
    given_up: list[AlertGivenUp] = []
    skipped = 0
    for incident in incidents:
        for url in urls:
            target = target_of(url)
            stream = alert_stream(incident.key, target)
            history = events.read_stream(stream)
            if any(e.type in _DONE for e in history):
                skipped += 1
                continue
            tries = [e for e in history if e.type == AlertFailed.event_type()]
            try:
                error = sender(url, incident.title, incident.body)
            except Exception as exc:  # a plugin's own bug must not fail the command being reported on
                error = f"{type(exc).__name__}: {exc}"
            payload: AlertSent | AlertFailed | AlertGivenUp
            if error is None:
                payload = AlertSent(
                    key=incident.key,
                    kind=incident.kind,
                    target=target,
                    title=incident.title,
                    body=incident.body,
                    event_ids=incident.event_ids,
                )
            elif tries and now is not None and now - tries[0].occurred_at >= GIVE_UP_AFTER:
                # Given up only after this last try failed too: a machine off for days came back with its endpoint
                # working and gave its alert up untried.
                payload = AlertGivenUp(
                    key=incident.key,
                    kind=incident.kind,
                    target=target,
                    attempts=len(tries) + 1,
                    first_failed_at=tries[0].occurred_at,
                    error=error,
                )
            else:
                payload = AlertFailed(key=incident.key, kind=incident.kind, target=target, error=error)
            if isinstance(payload, AlertSent):
                sent.append(payload)
            elif isinstance(payload, AlertFailed):
                failed.append(payload)
            # False: another process recorded this alert's outcome first; a give-up is said by the one that recorded it.
            if append_after(events, stream, history, payload) and isinstance(payload, AlertGivenUp):
                given_up.append(payload)
    return Dispatched(sent, failed, skipped, given_up)


_DONE = frozenset({AlertSent.event_type(), AlertGivenUp.event_type()})
