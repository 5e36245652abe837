"""Alerts after a job: whatever the store shows now that deserves one, sent once per incident per day.

Called by the job commands whether the job succeeded or failed (a failed run's RunFailed is recorded
before its error leaves the job), so a cron that keeps calling `run-due` reports its own failures and,
through the silence check that only run-due makes, its own absence of successful weekly runs. Alerting
never fails the command it follows and never changes its exit code: a problem is said on stderr and
the unsent alerts are recorded (AlertFailed, with their text) for the next command to retry from that record, whether
or not the store still shows what they report (alerts/owed.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime

from llmtrade.alerts.dispatch import DONE, Dispatched, Sender, dispatch, failed_to, give_up_unset
from llmtrade.alerts.incident import Incident
from llmtrade.alerts.incidents import config_unloadable, find_incidents, week_cost
from llmtrade.alerts.send import place, send, target_of, urls_from
from llmtrade.app.config_rejections import record_rejected, rejected
from llmtrade.app.container import Container
from llmtrade.clock import Clock, make_clock
from llmtrade.config_errors import ConfigError
from llmtrade.domain import streams
from llmtrade.domain.alerts import CHECKED_EVERY, AlertCheckFailureSaid, AlertsChecked
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import ConfigRejected
from llmtrade.domain.streams import alert_stream
from llmtrade.domain.wording import market_time
from llmtrade.errors import ConcurrencyError
from llmtrade.exits import one_line
from llmtrade.settings import Settings, SettingsRejected, settings_besides
from llmtrade.storage.bootstrap import open_storage
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.head_append import append_after
from llmtrade.storage.latest_record import stream_head


def check_alerts(app: Container, *, silence: bool, sender: Sender = send) -> Dispatched | None:
    """Find the incidents and send them to LLMTRADE_ALERT_URLS; None when no URL is set (the alerts still owed are then
    only given up in time, `give_up_unset`)."""
    urls = urls_from(app.settings.alert_urls)
    if not urls:
        try:
            with app.storage() as storage:
                gone = give_up_unset(storage.events, app.clock.now())
        except Exception:  # books not reached: the job said so if it mattered; the next command gives them up
            return None
        _say(Dispatched(sent=[], failed=[], skipped=0, given_up=gone), app.warning, urls)
        return None
    now = app.clock.now()
    with app.storage() as storage:
        config = app.loaded.config
        said = storage.events.read_stream(streams.ALERT_CHECK)
        failing = said[-1] if said and AlertCheckFailureSaid.from_event(said[-1]).error is not None else None
        checked = stream_head(storage.conn, streams.ALERTS_CHECKED)
        incidents = find_incidents(
            storage.events,
            config,
            now,
            silence=silence,
            spent=week_cost(storage.conn, config, now),
            unchecked_since=failing.occurred_at if failing is not None else None,
            checked_at=checked[1] if checked is not None else None,
        )
        done = dispatch(storage.events, incidents, urls, sender, now)
        if failing is not None and append_after(storage.events, streams.ALERT_CHECK, said, _CHECKED):
            app.warning(f"alerts checked again (not checked since {market_time(failing.occurred_at)})")
        if checked is None or now - checked[1] >= CHECKED_EVERY:
            _mark_checked(storage.events, checked[0] if checked is not None else 0)
    _say(done, app.warning, urls)
    return done


_CHECKED = AlertCheckFailureSaid(error=None)


def _mark_checked(events: EventStore, version: int) -> None:
    """Record that a check completed (AlertsChecked), after the stream's `version` as read; another process's record
    made at the same moment stands for this one."""
    with suppress(ConcurrencyError):
        events.append(
            [NewEvent.of(AlertsChecked(), stream=streams.ALERTS_CHECKED)],
            expected_versions={streams.ALERTS_CHECKED: version},
        )


def _record_unchecked(app: Container, error: str) -> None:
    """Record that the alert check failed (`error`), once while it lasts: a cron every 5 minutes would record it at
    every wake-up. Its record widens the next working check's look-back to before it (`check_alerts`). A check that
    failed for the database itself cannot be recorded: said already; the next working check looks back to the last
    completed check on record (AlertsChecked) instead."""
    try:
        with app.storage() as storage:
            said = storage.events.read_stream(streams.ALERT_CHECK)
            if said and AlertCheckFailureSaid.from_event(said[-1]).error is not None:
                return
            append_after(storage.events, streams.ALERT_CHECK, said, AlertCheckFailureSaid(error=error))
    except Exception:  # the job's outcome decides the exit; its failure to check alerts was said
        pass


def _say(done: Dispatched, warn: Callable[[str], None], urls: Sequence[str]) -> None:
    def where(target: str) -> str:
        # By its place too, as `config validate` names it: with two URLs set, a hash alone did not say which failed.
        url = next((url for url in urls if target_of(url) == target), None)
        return place(urls, url) if url is not None else target

    for failed in done.failed:
        warn(f"alert {failed.key} to {where(failed.target)} not sent ({failed.error}); the next command retries it")
    for bad in done.rejected:  # said once a day: a configuration problem, no send to retry
        warn(
            f"alert {bad.place} in LLMTRADE_ALERT_URLS is not a URL apprise can use: no alert goes to it, and none "
            "is retried, until it is mended (fix LLMTRADE_ALERT_URLS; `llmtrade config validate` names each such "
            "URL); said once a day"
        )
    for gone in done.given_up:  # said once: the stream ends with it
        warn(
            f"alert {gone.key} to {where(gone.target)} given up: not sent in {gone.attempts} attempt(s) since "
            f"{market_time(gone.first_failed_at)} (the last: {gone.error}); it is not retried"
        )


@contextmanager
def alerting(app: Container, *, silence: bool = False, enabled: bool = True) -> Iterator[None]:
    """Check for alerts once the block ends, however it ends (`enabled` False: a dry run, which records nothing)."""
    try:
        yield
    finally:
        if enabled:
            try:
                check_alerts(app, silence=silence)
            except Exception as exc:  # the job's own outcome decides the exit code, never its report
                app.warning(f"alerts not checked: {type(exc).__name__}: {exc}")
                _record_unchecked(app, one_line(f"{type(exc).__name__}: {exc}"))


def alert_refused(app: Container, incident: Incident, sender: Sender = send) -> None:
    """Send a refusal that runs no job (app/clock_guard.py) to LLMTRADE_ALERT_URLS, once per its key. Only it: the
    other incidents are keyed by the clock's day (a drawdown, the week's cost), which a clock set back has wrong, and
    the alerts still owed wait for a command that runs (this one too, if its send fails or cannot be tried:
    `check_alerts` retries it from its record once the clock is right, alerts/owed.py). Never raises: the refusal's
    exit (75) stays its own; only books that cannot be reached leave it unrecorded (said)."""
    urls = urls_from(app.settings.alert_urls)
    if not urls:
        return
    try:
        with app.storage() as storage:
            done = _dispatch_or_owe(storage.events, incident, urls, sender, app.clock.now(), owed=False)
    except Exception as exc:  # the books cannot be reached; the refusal decides the exit, never its alert
        app.warning(f"alert not sent: {type(exc).__name__}: {one_line(str(exc))}")
        return
    _say(done, app.warning, urls)


def _dispatch_or_owe(
    events: EventStore, incident: Incident, urls: Sequence[str], sender: Sender, now: datetime, *, owed: bool = True
) -> Dispatched:
    """`dispatch` of the one `incident`; when it fails for something besides the books (apprise that does not import, a
    plugin's own error before any send), the alert recorded as owed to each URL not done (AlertFailed, with the error),
    as a failed send is: the next command's check retries it, and `status` lists it. A refusal's alert is found by no
    check (alerts/owed.py), so one that only warned was lost, and nothing on record said so. A failure of the books
    themselves is raised, there being nowhere to record it."""
    try:
        return dispatch(events, [incident], urls, sender, now, owed=owed)
    except Exception as exc:
        error = one_line(f"{type(exc).__name__}: {exc}")
    failed = []
    for url in urls:
        target = target_of(url)
        stream = alert_stream(incident.key, target)
        history = events.read_stream(stream)
        if any(e.type in DONE for e in history):
            continue  # sent (or given up) before the failure
        payload = failed_to(incident, target, error)
        if append_after(events, stream, history, payload):  # False: another process recorded its outcome first
            failed.append(payload)
    return Dispatched(sent=[], failed=failed, skipped=0)


def unloadable(
    settings: Settings,
    clock: Clock,
    command: str,
    error: ConfigError,
    warn: Callable[[str], None],
    sender: Sender = send,
    *,
    alert: bool = True,
) -> None:
    """Record that the configuration cannot be used (`error`: a ConfigRejected, app/config_rejections.py) and send it,
    once a day, to LLMTRADE_ALERT_URLS: a job command stops before it has a container, so neither a run nor `alerting`
    records anything (`alert` False: one found inside a job, whose failure `alerting` reports). The alerts still owed
    are retried with it: they need no configuration, and a broken one lasting days would otherwise hold them back.
    Never raises: the command's exit (2) stays its own; a database that cannot be reached is said."""
    unreached = _rejected(settings, clock, rejected(command, error), warn, sender, alert=alert)
    if unreached is not None:  # the database gone too: said, the config's error still decides the exit
        warn(f"the configuration error is {unreached}")


def settings_unusable(
    command: str, error: SettingsRejected, warn: Callable[[str], None], sender: Sender = send
) -> None:
    """Record a job command stopped by a bad environment setting as a configuration it cannot use (ConfigRejected,
    naming the variables) and alert it, as `unloadable` does a YAML file's: it was said and recorded nowhere, and a
    cron whose output goes to a log told nobody. The books are reached with the other settings; where the refused one
    places them or dates their records (settings.py `settings_besides`), or they cannot be reached, the error says it
    is not recorded (a note: the one line a cron mails). Never raises: the error's exit (2) stays its own."""
    besides = settings_besides(error)
    if isinstance(besides, str):
        error.add_note(f"Not recorded in the books: {besides}.")
        return
    clock = make_clock(besides.now)
    rejection = ConfigRejected(command=command, files=list(error.names), error=str(error))
    unreached = _rejected(besides, clock, rejection, warn, sender, alert=True)
    if unreached is not None:
        error.add_note(f"{unreached[0].upper()}{unreached[1:]}.")


def _rejected(
    settings: Settings,
    clock: Clock,
    rejection: ConfigRejected,
    warn: Callable[[str], None],
    sender: Sender,
    *,
    alert: bool,
) -> str | None:
    """Record `rejection` and alert it once a day (`alert`); None when the books were reached, else what was not done
    and why ("not recorded in the books nor alerted: ...")."""
    urls = urls_from(settings.alert_urls) if alert else []
    try:
        with open_storage(settings, clock) as storage:
            record_rejected(storage.events, rejection)
            if not urls:
                return None
            error = "; ".join(rejection.error.splitlines())
            incident = config_unloadable(rejection.command, error, clock.now())
            done = _dispatch_or_owe(storage.events, incident, urls, sender, clock.now())
    except Exception as exc:
        return (
            f"not recorded in the books{' nor alerted' if urls else ''}: the database cannot be reached "
            f"({type(exc).__name__}: {one_line(str(exc))})"
        )
    _say(done, warn, urls)
    return None
