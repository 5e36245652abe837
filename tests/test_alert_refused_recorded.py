"""A refusal's alert that does not go (app/alerting.py `alert_refused`: a clock behind the books or away from the
database server's) is on record, so `status`'s alerts_not_delivered and the events list show it, and the next check
retries it.

A send the service refused (AlertFailed, owed) and a URL apprise can make nothing of (AlertUrlRejected) were recorded by
`dispatch`. One whose dispatch itself failed (apprise that does not import: a broken install, a plugin's own error
before any send) was only warned ("alert not sent: ...") and nothing was recorded: no check finds a clock refusal again
(alerts/owed.py), so that alert was lost, and `status` said nothing of it. Now it is recorded owed (AlertFailed, with
the error) to each URL, as a failed send is. The same for a configuration's rejection (`unloadable`), whose dispatch
failing was said as "the database cannot be reached" though its ConfigRejected was on record."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from llmtrade.alerts.incidents import clock_behind_incident
from llmtrade.app.alerting import alert_refused, alerting, unloadable
from llmtrade.app.container import Container
from llmtrade.app.status_alerts import alerts_not_delivered
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.config_errors import ConfigError
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW, stored_events
from tests.test_alerts import HttpSink

WEEK = date(2026, 1, 7)


def _app(database_url: str, home: Path, urls: str, warned: list[str]) -> Container:
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(home), LLMTRADE_ALERT_URLS=urls)
    return Container(settings, load_config(None), FixedClock(FIXED_NOW), None, warned.append)


def test_a_refusal_alert_refused_by_its_service_or_sent_to_an_unusable_url_is_on_record(
    database_url: str, storage: Storage, tmp_path: Path
) -> None:
    warned: list[str] = []
    refused = clock_behind_incident(FIXED_NOW + timedelta(days=1), "the clock is behind the books: ...")
    # Nothing listens on port 9: the POST is refused. `nosuch://` is no service apprise has.
    alert_refused(_app(database_url, tmp_path, "json://127.0.0.1:9/alerts nosuch://x/y", warned), refused)
    [failed] = stored_events(database_url, type="AlertFailed")
    assert failed.payload["key"] == refused.key and failed.payload["title"] == refused.title
    assert len(stored_events(database_url, type="AlertUrlRejected")) == 1
    lines = alerts_not_delivered(EventStore(storage.conn, FixedClock(FIXED_NOW)), WEEK)
    assert [(line.state, line.alert) for line in lines] == [("owed", refused.title), ("URL unusable", "")]
    assert len(warned) == 2, warned


def test_a_refusal_alert_whose_dispatch_failed_is_recorded_owed_and_sent_by_the_next_check(
    database_url: str, storage: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = HttpSink()
    warned: list[str] = []
    app = _app(database_url, tmp_path, sink.url, warned)
    refused = clock_behind_incident(FIXED_NOW + timedelta(days=1), "the clock is behind the books: ...")
    try:
        with monkeypatch.context() as broken:
            broken.setitem(sys.modules, "apprise", None)  # `import apprise` raises ImportError
            alert_refused(app, refused)
        # Before: "alert not sent: ModuleNotFoundError: ..." and nothing on record.
        [failed] = stored_events(database_url, type="AlertFailed")
        assert failed.payload["key"] == refused.key and failed.payload["error"].startswith("ModuleNotFoundError")
        [line] = alerts_not_delivered(EventStore(storage.conn, FixedClock(FIXED_NOW)), WEEK)
        assert (line.state, line.alert, line.attempts) == ("owed", refused.title, 1)
        assert line.error.startswith("ModuleNotFoundError"), line
        [said] = warned
        assert "not sent (ModuleNotFoundError" in said and "the next command retries it" in said, said
        with alerting(app):  # the next job command's check, apprise back
            pass
        assert [m["title"] for m in sink.received] == [refused.title]
        assert alerts_not_delivered(EventStore(storage.conn, FixedClock(FIXED_NOW)), WEEK) == []
    finally:
        sink.stop()


def test_a_configuration_rejection_whose_alert_could_not_be_dispatched_is_recorded_and_owed(
    database_url: str, storage: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warned: list[str] = []
    app = _app(database_url, tmp_path, "json://127.0.0.1:9/alerts", warned)
    monkeypatch.setitem(sys.modules, "apprise", None)
    unloadable(
        app.settings, app.clock, "run-due", ConfigError("risk.yaml: max_position_pct: not a number"), warned.append
    )
    assert len(stored_events(database_url, type="ConfigRejected")) == 1
    [failed] = stored_events(database_url, type="AlertFailed")
    assert failed.payload["kind"] == "config-unloadable"
    # Not "the database cannot be reached": it was, and holds the rejection and the alert owed.
    assert not [w for w in warned if "cannot be reached" in w], warned
