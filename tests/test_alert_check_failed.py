"""An alert check that itself fails inside a job is recorded once while it lasts, and the incidents it missed are
found once it works again, however long it failed.

`alerting` warned "alerts not checked: ..." and recorded nothing: a cron whose output goes to a log told nobody, and
the check, once it worked again, looked back only LOOKBACK (2 days), so a run that failed early in a longer outage
was never alerted. Now AlertCheckFailureSaid records the first failure (and its end, once), and the check after it
looks back from LOOKBACK before that first failure, as an owed alert's look-back reaches back to its first failure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from llmtrade.app import alerting as alerting_module
from llmtrade.app.alerting import alerting
from llmtrade.app.container import Container
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import RunFailed
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW, stored_events
from tests.test_alerts import HttpSink


def test_a_failing_alert_check_is_recorded_once_and_the_incidents_it_missed_are_sent_once_it_works(
    database_url: str, storage: Storage, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sink = HttpSink()
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path), LLMTRADE_ALERT_URLS=sink.url)
    loaded = load_config(None)
    warned: list[str] = []

    def job_at(when: datetime) -> None:
        with alerting(Container(settings, loaded, FixedClock(when), None, warned.append)):
            pass

    def failing(*_: object, **__: object) -> None:
        raise RuntimeError("incident reader broke")

    try:
        with monkeypatch.context() as broken:
            broken.setattr(alerting_module, "find_incidents", failing)
            job_at(FIXED_NOW)
            # A run fails while the check is broken, and the check stays broken for longer than LOOKBACK.
            failed = RunFailed(command="run-weekly", error_type="StageError", error="boom", duration_ms=1)
            at = FixedClock(FIXED_NOW + timedelta(hours=1))
            EventStore(storage.conn, at).append([NewEvent.of(failed, stream="run:r1", run_id="r1")])
            for hours in (2, 30, 70):
                job_at(FIXED_NOW + timedelta(hours=hours))
        assert len([w for w in warned if w.startswith("alerts not checked: RuntimeError: incident reader broke")]) == 4
        said = stored_events(database_url, type="AlertCheckFailureSaid")
        assert [e.payload["error"] for e in said] == ["RuntimeError: incident reader broke"]  # once while it lasts
        assert sink.received == []
        job_at(FIXED_NOW + timedelta(hours=75))  # works again, 74 hours after the run failed
        [alert] = sink.received
        assert "run-weekly" in alert["title"] and "boom" in alert["message"], alert
        said = stored_events(database_url, type="AlertCheckFailureSaid")
        assert [e.payload["error"] for e in said] == ["RuntimeError: incident reader broke", None]
        job_at(FIXED_NOW + timedelta(hours=76))  # its end said once; the incident sent once
        assert len(stored_events(database_url, type="AlertCheckFailureSaid")) == 2
        assert len(sink.received) == 1
    finally:
        sink.stop()


def test_a_check_that_could_not_reach_the_database_is_made_up_for_by_the_next_from_the_last_check_on_record(
    database_url: str, storage: Storage, tmp_path: Path
) -> None:
    # The database down for three days: each check after a job fails on it, and can record neither the failure nor
    # its start (AlertCheckFailureSaid). The check that worked again looked back 2 days only: a run that failed just
    # before the outage was never alerted.
    sink = HttpSink()
    loaded = load_config(None)
    warned: list[str] = []

    def job_at(when: datetime, url: str = database_url) -> None:
        settings = Settings(DATABASE_URL=url, LLMTRADE_HOME=str(tmp_path), LLMTRADE_ALERT_URLS=sink.url)
        with alerting(Container(settings, loaded, FixedClock(when), None, warned.append)):
            pass

    try:
        for minutes in (0, 5, 10):  # checks made on time: one record of them, not one per wake-up
            job_at(FIXED_NOW + timedelta(minutes=minutes))
        assert len(stored_events(database_url, type="AlertsChecked")) == 1
        failed = RunFailed(command="run-weekly", error_type="StageError", error="boom", duration_ms=1)
        at = FixedClock(FIXED_NOW + timedelta(hours=1))
        EventStore(storage.conn, at).append([NewEvent.of(failed, stream="run:r1", run_id="r1")])
        gone = "postgresql://llmtrade@127.0.0.1:9/gone?connect_timeout=2"  # nothing listens on port 9
        for hours in (2, 30, 70):
            job_at(FIXED_NOW + timedelta(hours=hours), gone)
        assert len([w for w in warned if w.startswith("alerts not checked:")]) == 3
        assert stored_events(database_url, type="AlertCheckFailureSaid") == []  # nowhere to record it
        assert sink.received == []
        job_at(FIXED_NOW + timedelta(hours=75))  # the database back, 74 hours after the run failed
        [alert] = sink.received
        assert "run-weekly" in alert["title"] and "boom" in alert["message"], alert
        assert len(stored_events(database_url, type="AlertsChecked")) == 2
        job_at(FIXED_NOW + timedelta(hours=76))
        assert len(sink.received) == 1  # sent once
    finally:
        sink.stop()
