"""Each incident to each URL once: skipped where its stream holds an AlertSent, else sent and recorded.

A send that fails is recorded (AlertFailed) and left for the next command; it never raises, so an
unreachable Discord cannot fail the cron job it reports on. Two processes checking at the same moment
may both send one alert (the services offer no idempotency key); only one AlertSent is kept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass

from llmtrade.alerts.incidents import Incident
from llmtrade.alerts.send import target_of
from llmtrade.domain.alerts import AlertFailed, AlertSent
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import alert_stream
from llmtrade.errors import ConcurrencyError
from llmtrade.storage.event_store import EventStore

# (url, title, body) -> None when sent, else why not; alerts/send.py's `send` in production.
Sender = Callable[[str, str, str], str | None]


@dataclass(frozen=True)
class Dispatched:
    """What one check did: alerts sent, failed (to be retried), and skipped as already sent."""

    sent: list[AlertSent]
    failed: list[AlertFailed]
    skipped: int


def dispatch(events: EventStore, incidents: Sequence[Incident], urls: Sequence[str], sender: Sender) -> Dispatched:
    sent: list[AlertSent] = []
    failed: list[AlertFailed] = []
    skipped = 0
    for incident in incidents:
        for url in urls:
            target = target_of(url)
            stream = alert_stream(incident.key, target)
            history = events.read_stream(stream)
            if any(e.type == AlertSent.event_type() for e in history):
                skipped += 1
                continue
            try:
                error = sender(url, incident.title, incident.body)
            except Exception as exc:  # a plugin's own bug must not fail the command being reported on
                error = f"{type(exc).__name__}: {exc}"
            if error is None:
                payload: AlertSent | AlertFailed = AlertSent(
                    key=incident.key,
                    kind=incident.kind,
                    target=target,
                    title=incident.title,
                    body=incident.body,
                    event_ids=incident.event_ids,
                )
                sent.append(payload)
            else:
                payload = AlertFailed(key=incident.key, kind=incident.kind, target=target, error=error)
                failed.append(payload)
            with suppress(ConcurrencyError):  # another process recorded this alert's outcome first
                events.append(
                    [NewEvent.of(payload, stream=stream)],
                    expected_versions={stream: history[-1].version if history else 0},
                )
    return Dispatched(sent, failed, skipped)
