"""The alerts that have not reached anyone, as `status` lists them (app/queries.py `status`): those still owed, those
given up, the URLs apprise can use none of. Each was said on stderr once, by the job command that met it, which under
cron is a log file or a mail nobody reads; the user who set LLMTRADE_ALERT_URLS to hear of failures heard nothing of
these, and `status` (which the owed alert's own text points to) said nothing either."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from llmtrade.alerts.owed import owed_alerts
from llmtrade.app.status_lines import AlertNotDeliveredLine
from llmtrade.domain.alerts import AlertGivenUp, AlertUrlRejected
from llmtrade.exits import one_line
from llmtrade.market.calendar import NEW_YORK
from llmtrade.storage.event_store import EventStore


def alerts_not_delivered(events: EventStore, week_id: date) -> list[AlertNotDeliveredLine]:
    """Every alert owed now, and this week's and last week's given up and unusable URLs (the latest day of each)."""
    since = datetime.combine(week_id - timedelta(days=7), time(), NEW_YORK)
    lines = [
        AlertNotDeliveredLine(
            state="owed",
            alert=owed.incident.title,
            target=owed.target,
            since=owed.first_failed_at.isoformat(),
            attempts=owed.attempts,
            error=one_line(owed.error),
        )
        for owed in owed_alerts(events)
    ]
    unusable: dict[str, AlertNotDeliveredLine] = {}
    for e in events.read(type=[AlertGivenUp.event_type(), AlertUrlRejected.event_type()]):
        if e.occurred_at < since:
            continue
        if e.type == AlertUrlRejected.event_type():
            rejected = AlertUrlRejected.from_event(e)
            unusable[rejected.target] = AlertNotDeliveredLine(
                state="URL unusable",
                alert="",
                target=rejected.place,
                since=e.occurred_at.isoformat(),
                attempts=0,
                error="apprise can make nothing of it: fix LLMTRADE_ALERT_URLS (`llmtrade config validate` names it)",
            )
            continue
        gone = AlertGivenUp.from_event(e)
        lines.append(
            AlertNotDeliveredLine(
                state="given up",
                alert=f"{gone.kind} alert {gone.key}",
                target=gone.target,
                since=gone.first_failed_at.isoformat(),
                attempts=gone.attempts,
                error=one_line(gone.error),
            )
        )
    return [*lines, *unusable.values()]
