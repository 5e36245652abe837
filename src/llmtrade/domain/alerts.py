"""Alerts (issue 16): what was sent to whom, and what failed to go, as events, so that "once per incident
per day" holds across processes and a failed send is retried by the next command.

Each (incident, target) pair has its own stream (streams.alert_stream): an AlertSent on it means done;
AlertFailed records an attempt that did not reach the service (the next command tries again, for GIVE_UP_AFTER
from its first failure; the first try after that is the last: failed too, AlertGivenUp ends the stream, never tried
again). A target
is named by `target` (the URL's scheme and a hash of the whole URL), never by the URL itself, which
holds the service's secret.

An alert owed (its stream ends in AlertFailed) is retried from its AlertFailed, which keeps its title and body: the
alert reports something that happened, and what found it may not find it again (a configuration mended, a clock set
right). A URL apprise can make nothing of is no failure to retry: AlertUrlRejected says it, once a day.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import Field

from llmtrade.domain.events import EventPayload

# How long a failed alert is retried from its first failure: a cron every 5 minutes tried and printed an alert of
# January at every wake-up into late February. Long enough for a service down over a weekend.
GIVE_UP_AFTER = timedelta(days=3)


class AlertSent(EventPayload):
    """An alert that the notification service accepted."""

    key: str  # the incident, e.g. "run-failed:20260107T130000Z-3f9a1c" or "drawdown:acct_3:2026-01-08"
    kind: str  # run-failed | run-degraded | breaker | drawdown | silence | budget | week-cost | reconciliation
    target: str  # "json:3f9a1c2b7d10": scheme and sha256 prefix of the URL
    title: str
    body: str
    event_ids: list[int]  # the events the alert is about


class AlertFailed(EventPayload):
    """An alert that did not reach its service; retried by the next command that checks for alerts, with the text
    recorded here (alerts/owed.py), whether or not what found it still finds it."""

    key: str
    kind: str
    target: str
    error: str
    # What the alert says, kept for its retries: a config-unloadable alert that failed was lost once the config was
    # mended (nothing found it again). Empty in records from before they were kept (alerts/owed.py words one).
    title: str = ""
    body: str = ""
    event_ids: list[int] = Field(default_factory=list)


class AlertGivenUp(EventPayload):
    """An alert no longer retried: its sends failed from the first (`first_failed_at`) until one tried GIVE_UP_AFTER
    or more after it, `attempts` times, the last for `error`. Recorded once, on the alert's stream, and said once; the
    incident is not sent."""

    key: str
    kind: str
    target: str
    attempts: int
    first_failed_at: datetime
    error: str


class AlertUrlRejected(EventPayload):
    """A URL of LLMTRADE_ALERT_URLS apprise can make nothing of (no service has its scheme, or it lacks what its
    service needs): a configuration problem, never a send to retry. Recorded once a day per URL (`day`, New York), and
    said then: a cron every 5 minutes printed "the next command retries it" for each alert at every wake-up."""

    target: str  # the URL's record name (alerts/send.py target_of), never the URL
    place: str  # "URL 2 of 3 (unknown:3f9a1c2b7d10)", as `config validate` names it
    day: date


class AlertCheckFailureSaid(EventPayload):
    """The alert check after a job could not be made (`error`, the first failure's, recorded once while it lasts:
    app/alerting.py), or, `error` None, made again after such a failure. Only a warning said it, and the check that
    worked again looked back only LOOKBACK: a run failed early in a longer failure was never alerted. While the last
    one has an error, the check looks back from LOOKBACK before it (alerts/incidents.py `find_incidents`)."""

    error: str | None


# How often a completed alert check is put on record (AlertsChecked): well within the look-back (alerts/incidents.py
# LOOKBACK, 2 days), so the latest record never widens a check made on time; two records a day, not one per wake-up.
CHECKED_EVERY = timedelta(hours=12)


class AlertsChecked(EventPayload):
    """An alert check after a job completed: found the incidents and sent, or recorded as owed, what it had to. Recorded
    at most once every CHECKED_EVERY (app/alerting.py). A check that fails because the database cannot be reached
    cannot record its failure (AlertCheckFailureSaid), and the check that worked again looked back only LOOKBACK: a run
    that failed before an outage of the database longer than that was never alerted. The check looks back to the
    latest of these records too (alerts/incidents.py `find_incidents`): every check up to it saw what came before."""
