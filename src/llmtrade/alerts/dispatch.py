"""Each incident to each URL once: skipped where its stream holds an AlertSent, else sent and recorded.

A send that fails is recorded (AlertFailed, with the alert's text) and left for the next command, which retries it from
that record (owed.py) whether or not the incident is found again; it never raises, so an unreachable Discord cannot fail
the cron job it reports on. An alert still owed GIVE_UP_AFTER after its first failure is tried once more, and given up
when that try fails too (AlertGivenUp, once): a cron every 5 minutes otherwise tried, and said, each unsent alert at
every wake-up for ever. A URL that gives no answer within its bound (alerts/send.py SEND_SECONDS) is tried no more
in that check: its other new alerts are recorded failed untried, its owed ones left owed. A URL apprise can make
nothing of is not sent to at all: no send can ever work, so it is a configuration problem (AlertUrlRejected, once a
day), not a failure to retry. Two processes checking at the same moment may both send one alert (the services offer
no idempotency key); only one AlertSent is kept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from llmtrade.alerts.incident import Incident
from llmtrade.alerts.owed import Owed, owed_alerts
from llmtrade.alerts.send import Unanswered, place, target_of
from llmtrade.alerts.send import usable as apprise_can_use
from llmtrade.domain.alerts import GIVE_UP_AFTER, AlertFailed, AlertGivenUp, AlertSent, AlertUrlRejected
from llmtrade.domain.streams import ALERT_URLS, alert_stream
from llmtrade.market.calendar import new_york_date
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.head_append import append_after

# (url, title, body) -> None when sent, else why not; alerts/send.py's `send` in production.
Sender = Callable[[str, str, str], str | None]


@dataclass(frozen=True)
class Dispatched:
    """What one check did: alerts sent, failed (to be retried), skipped as already sent or given up, given up now (to
    be said once), and URLs apprise cannot use found so for the first time today (to be said)."""

    sent: list[AlertSent]
    failed: list[AlertFailed]
    skipped: int
    given_up: list[AlertGivenUp] = field(default_factory=list)
    rejected: list[AlertUrlRejected] = field(default_factory=list)


def dispatch(
    events: EventStore,
    incidents: Sequence[Incident],
    urls: Sequence[str],
    sender: Sender,
    now: datetime | None = None,
    *,
    owed: bool = True,
    usable: Callable[[str], bool] = apprise_can_use,
) -> Dispatched:
    """Send each incident, and (`owed`) each alert still owed to one of `urls`, to each URL unless done; `now` (the
    clock's) decides which failing ones are given up if their last try fails (None: none is). `usable` is asked only
    of a URL with something to send (it imports apprise)."""
    sent: list[AlertSent] = []
    failed: list[AlertFailed] = []
    given_up: list[AlertGivenUp] = []
    skipped = 0
    unusable: list[str] = []
    checked: dict[str, bool] = {}
    # URLs that gave no answer within their bound in this check, and that answer: each further send waited the whole
    # bound again (a machine back from a week off held its wake-up for minutes, past the next wake-up).
    unanswered: dict[str, str] = {}
    owed_now = owed_alerts(events) if owed else []
    for incident, url in _pairs(events, incidents, urls, owed_now):
        target = target_of(url)
        stream = alert_stream(incident.key, target)
        history = events.read_stream(stream)
        if any(e.type in DONE for e in history):
            skipped += 1
            continue
        if url not in checked:
            checked[url] = usable(url)
            if not checked[url]:
                unusable.append(url)
        if not checked[url]:
            continue  # nothing recorded on the alert's stream: the URL is said as a configuration problem below
        tries = [e for e in history if e.type == AlertFailed.event_type()]
        if url in unanswered:
            if tries:
                continue  # owed already, as it stays: the next command tries it (and gives it up in time)
            error = f"not tried: an alert before it got {unanswered[url]}"
        else:
            try:
                error = sender(url, incident.title, incident.body)
            except Exception as exc:  # a plugin's own bug must not fail the command being reported on
                error = f"{type(exc).__name__}: {exc}"
            if isinstance(error, Unanswered):
                unanswered[url] = str(error)
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
            payload = failed_to(incident, target, error)
        if isinstance(payload, AlertSent):
            sent.append(payload)
        elif isinstance(payload, AlertFailed):
            failed.append(payload)
        # False: another process recorded this alert's outcome first; a give-up is said by the one that recorded it.
        if append_after(events, stream, history, payload) and isinstance(payload, AlertGivenUp):
            given_up.append(payload)
    given_up += _unset(events, owed_now, urls, now)
    # `now` is None only in a direct call without the clock's time (tests): the system's day then.
    rejected = _reject(events, unusable, urls, now or datetime.now(UTC))
    return Dispatched(sent, failed, skipped, given_up, rejected)


def failed_to(incident: Incident, target: str, error: str) -> AlertFailed:
    """`incident`'s alert owed to `target` (a URL's place, never the URL) after `error`, with the text it was to send:
    the next command retries it from this record."""
    return AlertFailed(
        key=incident.key,
        kind=incident.kind,
        target=target,
        error=error,
        title=incident.title,
        body=incident.body,
        event_ids=incident.event_ids,
    )


def _pairs(
    events: EventStore, incidents: Sequence[Incident], urls: Sequence[str], owed: Sequence[Owed]
) -> list[tuple[Incident, str]]:
    """Each incident with each URL, in order, then each alert owed to one of `urls` that no incident found again. An
    owed one is sent with the text its AlertFailed recorded (what happened, not what the store shows now); one recorded
    without it (before texts were kept) with the incident found again, when it is. An alert owed to a URL no longer
    set is left: there is nothing to send it to (`_unset` gives it up in time)."""
    by_target = {target_of(url): url for url in urls}
    waiting: dict[str, tuple[Incident, str, bool]] = {}  # stream -> (incident, url, text recorded)
    for alert in owed:
        if alert.target in by_target:
            stream = alert_stream(alert.incident.key, alert.target)
            waiting[stream] = (alert.incident, by_target[alert.target], alert.recorded)
    pairs = []
    for incident in incidents:
        for url in urls:
            recorded = waiting.pop(alert_stream(incident.key, target_of(url)), None)
            pairs.append((recorded[0], url) if recorded is not None and recorded[2] else (incident, url))
    return pairs + [(incident, url) for incident, url, _ in waiting.values()]


def give_up_unset(events: EventStore, now: datetime) -> list[AlertGivenUp]:
    """With no URL in LLMTRADE_ALERT_URLS at all (cron's environment without the variable the shell had), no check
    sends anything, but the alerts still owed are given up as any owed to a URL taken out is (`_unset`): left owed,
    `status` said for weeks that the next job command retries them, and none ever did."""
    return _unset(events, owed_alerts(events), [], now)


def _unset(events: EventStore, owed: Sequence[Owed], urls: Sequence[str], now: datetime | None) -> list[AlertGivenUp]:
    """Give up each alert owed to a URL no longer in LLMTRADE_ALERT_URLS once GIVE_UP_AFTER has passed since its
    first failure (before then the URL may come back: an environment variable missing from one cron line). Left owed
    for ever, it was never tried nor given up, and kept the incidents' look-back (incidents.py `_owed_since`) reaching
    back to its first failure: every incident since then was read again, and sent to a URL set later, at every
    wake-up."""
    if now is None:
        return []
    set_now = {target_of(url) for url in urls}
    given_up = []
    for alert in owed:
        if alert.target in set_now or now - alert.first_failed_at < GIVE_UP_AFTER:
            continue
        stream = alert_stream(alert.incident.key, alert.target)
        history = events.read_stream(stream)
        if not history or history[-1].type != AlertFailed.event_type():
            continue  # sent or given up by another process since it was read as owed
        payload = AlertGivenUp(
            key=alert.incident.key,
            kind=alert.incident.kind,
            target=alert.target,
            attempts=alert.attempts,
            first_failed_at=alert.first_failed_at,
            error=f"{alert.error}; its URL is no longer in LLMTRADE_ALERT_URLS",
        )
        if append_after(events, stream, history, payload):
            given_up.append(payload)
    return given_up


def _reject(events: EventStore, unusable: Sequence[str], urls: Sequence[str], now: datetime) -> list[AlertUrlRejected]:
    """Record each URL apprise cannot use once per New York day (a cron every 5 minutes otherwise printed it at every
    wake-up, once per alert); those recorded now, to be said."""
    day = new_york_date(now)
    recorded = []
    for url in unusable:
        target = target_of(url)
        before = events.read_stream(ALERT_URLS)
        said = (AlertUrlRejected.from_event(e) for e in before)
        if any(r.target == target and r.day == day for r in said):
            continue
        rejected = AlertUrlRejected(target=target, place=place(urls, url), day=day)
        if append_after(events, ALERT_URLS, before, rejected):  # False: another process recorded (and said) it
            recorded.append(rejected)
    return recorded


# What ends an alert's stream: sent, or given up; never tried again.
DONE = frozenset({AlertSent.event_type(), AlertGivenUp.event_type()})
