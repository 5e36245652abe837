"""Alerts owed: those whose stream ends in AlertFailed (sent to no service yet, not given up), rebuilt from that record.

A retry used to resend only the incidents found again from the events (incidents.py `find_incidents`), so an alert
whose condition ended before its retry was dropped without a word: a trial's config-unloadable alert failed to one URL,
the configuration was mended, and it was never tried again, nor given up, while the failed runs' alerts were. The clock
refusals (clock-behind, clock-skew) went the same way. An alert reports something that happened: it is retried from
what its AlertFailed recorded until sent or given up (dispatch.py), whether or not what found it still finds it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from llmtrade.alerts.incident import Incident
from llmtrade.domain.alerts import AlertFailed, AlertGivenUp, AlertSent
from llmtrade.domain.events import StoredEvent
from llmtrade.storage.event_store import EventStore


@dataclass(frozen=True)
class Owed:
    """One alert owed to one target. `recorded` False: its AlertFailed predates the text being kept, so the incident
    carries a text worded from its key (the incident found again, when it is, tells it instead). `attempts`: its
    failed sends; `first_failed_at`: the first of them; `error`: why the last failed."""

    incident: Incident
    target: str
    recorded: bool
    attempts: int
    first_failed_at: datetime
    error: str


def owed_alerts(events: EventStore) -> list[Owed]:
    """Every alert owed, in the order of their last failure."""
    last: dict[str, StoredEvent] = {}  # stream -> its last alert event
    failures: dict[str, list[StoredEvent]] = {}  # stream -> its AlertFailed events
    for event in events.read(type=[AlertFailed.event_type(), AlertSent.event_type(), AlertGivenUp.event_type()]):
        last.pop(event.stream, None)  # re-inserted: the order is the last event's
        last[event.stream] = event
        if event.type == AlertFailed.event_type():
            failures.setdefault(event.stream, []).append(event)
    owed = []
    for event in last.values():
        if event.type != AlertFailed.event_type():
            continue  # sent, or given up: owed no more
        failed = AlertFailed.from_event(event)
        recorded = bool(failed.title)
        title = failed.title or f"llmtrade: {failed.kind} alert {failed.key}"
        body = failed.body or (
            f"An alert ({failed.key}) that failed to send before llmtrade kept alert texts; `llmtrade events --type "
            "AlertFailed` and `llmtrade status` show what it was about."
        )
        tries = failures[event.stream]
        incident = Incident(failed.key, failed.kind, title, body, failed.event_ids)
        owed.append(Owed(incident, failed.target, recorded, len(tries), tries[0].occurred_at, failed.error))
    return owed
