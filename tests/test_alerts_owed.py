"""Alerts owed are retried from what their AlertFailed recorded, whether or not their condition still holds, and an
alert URL apprise can make nothing of is a configuration problem said once a day, never a send "retried" and printed
at every wake-up. A new user's trial found both: a config-unloadable alert failed to one URL was never tried again
once the configuration was mended (nor given up, nor said); `json:/bad` printed "the next command retries it" once per
alert at every wake-up for 3 days."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from llmtrade.alerts.dispatch import Sender, dispatch
from llmtrade.alerts.incidents import clock_behind_incident, find_incidents
from llmtrade.alerts.owed import owed_alerts
from llmtrade.alerts.send import target_of
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.alerts import AlertFailed, AlertGivenUp
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import RunFailed
from llmtrade.domain.streams import alert_stream
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW, stored_events
from tests.test_alerts import HttpSink, _free_port

CONFIG = load_config(None).config
CONFIG_TITLE = "llmtrade: the configuration cannot be loaded; nothing runs"
EARLY = FIXED_NOW + timedelta(days=7, hours=-2)  # Wednesday 06:00 New York: nothing is due before the 08:00 run


def _run_due(monkeypatch: pytest.MonkeyPatch, at: datetime, *config: str) -> Result:
    monkeypatch.setenv("LLMTRADE_NOW", at.isoformat())
    return CliRunner().invoke(app, [*config, "-q", "run-due", "--offline"])


def test_a_config_unloadable_alert_failed_to_one_url_is_retried_once_the_config_is_mended(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sink, port = HttpSink(), _free_port()
    down = f"json://127.0.0.1:{port}/down"  # nothing listens there yet
    monkeypatch.setenv("LLMTRADE_ALERT_URLS", f"{sink.url} {down}")
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "synthetic")
    broken = tmp_path / "config"
    broken.mkdir()
    (broken / "risk.yaml").write_text("limits: {max_position_pct: lots}\n")
    key = "config-unloadable:2026-01-14"
    try:
        for minutes in (0, 5):
            result = _run_due(monkeypatch, EARLY + timedelta(minutes=minutes), "--config", str(broken))
            assert result.exit_code == 2, result.output
        assert [m["title"] for m in sink.received] == [CONFIG_TITLE]
        # Mended: nothing finds the incident again, and it is still owed to the URL that did not take it.
        for minutes in (10, 15):
            result = _run_due(monkeypatch, EARLY + timedelta(minutes=minutes))
            assert result.exit_code == 0, result.output
            # Which URL, by its place in LLMTRADE_ALERT_URLS (a cron trial read only a hash, with two URLs set).
            assert f"alert {key} to URL 2 of 2 (json:" in result.stderr, result.stderr
            assert "the next command retries it" in result.stderr
        failed = [AlertFailed.from_event(e) for e in stored_events(cli_env["DATABASE_URL"], type="AlertFailed")]
        assert [f.key for f in failed] == [key] * 4
        assert {f.title for f in failed} == {CONFIG_TITLE} and "risk.yaml" in failed[-1].body
        up = HttpSink(port)
        try:
            for minutes in (20, 25):
                assert _run_due(monkeypatch, EARLY + timedelta(minutes=minutes)).exit_code == 0
            [sent] = up.received  # sent once it can be, from its record, and not again
            assert sent["title"] == CONFIG_TITLE and "run-due did not start" in sent["message"]
            assert len(sink.received) == 1  # never twice to the URL that took it
        finally:
            up.stop()
    finally:
        sink.stop()


def test_an_owed_alert_whose_condition_ended_is_given_up_after_three_days_and_said_once(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    down = f"json://127.0.0.1:{_free_port()}/down"
    monkeypatch.setenv("LLMTRADE_ALERT_URLS", down)
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "synthetic")
    broken = tmp_path / "config"
    broken.mkdir()
    (broken / "risk.yaml").write_text("limits: {max_position_pct: lots}\n")
    assert _run_due(monkeypatch, EARLY, "--config", str(broken)).exit_code == 2
    said = []
    for hours in (1, 24, 71, 72, 73):
        result = _run_due(monkeypatch, EARLY + timedelta(hours=hours))
        assert result.exit_code == 0, result.output
        said.append(result.stderr)
    assert all("config-unloadable:2026-01-14" in s and "retries it" in s for s in said[:3])
    assert "config-unloadable:2026-01-14" in said[3] and "given up: not sent in 5 attempt(s)" in said[3]
    assert "config-unloadable" not in said[4]
    [gone] = [AlertGivenUp.from_event(e) for e in stored_events(cli_env["DATABASE_URL"], type="AlertGivenUp")]
    assert gone.key == "config-unloadable:2026-01-14" and gone.first_failed_at == EARLY


def test_a_clock_refusal_alert_that_failed_is_sent_from_its_record_once_the_clock_is_right(storage: Storage) -> None:
    url = "json://127.0.0.1:9/alerts"
    tried: list[str] = []

    def sender(ok: bool) -> Sender:
        def send(url: str, title: str, body: str) -> str | None:
            tried.append(title)
            return None if ok else "connection refused"

        return send

    refused = clock_behind_incident(FIXED_NOW + timedelta(days=1), "the clock is behind the books: ...")
    assert len(dispatch(storage.events, [refused], [url], sender(False), FIXED_NOW).failed) == 1
    later = FIXED_NOW + timedelta(days=1, hours=1)  # the clock set right: the refusal is found by nothing
    events = EventStore(storage.conn, FixedClock(later))
    assert find_incidents(events, CONFIG, later, silence=False) == []
    done = dispatch(events, find_incidents(events, CONFIG, later, silence=False), [url], sender(True), later)
    assert [a.key for a in done.sent] == [refused.key] and tried == [refused.title] * 2
    assert dispatch(events, [], [url], sender(True), later).sent == [] and len(tried) == 2


def test_an_alert_failed_before_texts_were_kept_still_loads_and_is_retried(storage: Storage) -> None:
    old = {"key": "config-unloadable:2026-01-06", "kind": "config-unloadable", "target": "json:x", "error": "down"}
    storage.events.append([NewEvent(type="AlertFailed", stream=alert_stream(old["key"], "json:x"), payload=old)])
    url = "json://127.0.0.1:9/alerts"
    assert target_of(url) != "json:x"  # owed to a URL no longer set: nothing to send it to
    assert dispatch(storage.events, [], [url], lambda *_: None, FIXED_NOW).sent == []
    moved = {**old, "target": target_of(url)}
    storage.events.append(
        [NewEvent(type="AlertFailed", stream=alert_stream(old["key"], target_of(url)), payload=moved)]
    )
    [sent] = dispatch(storage.events, [], [url], lambda *_: None, FIXED_NOW).sent
    assert sent.key == old["key"] and old["key"] in sent.title


def test_an_alert_url_apprise_cannot_use_is_said_once_a_day_while_a_transient_failure_is_retried(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_storage(Settings(DATABASE_URL=cli_env["DATABASE_URL"]), FixedClock(EARLY - timedelta(hours=1))) as s:
        failing = RunFailed(command="checkpoint", error_type="StageError", error="boom", duration_ms=1)
        s.events.append([NewEvent.of(failing, stream="run:r1", run_id="r1")])
    dead = f"json://127.0.0.1:{_free_port()}/down"
    monkeypatch.setenv("LLMTRADE_ALERT_URLS", f"json:/bad {dead}")
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "synthetic")
    said = []
    for at in (EARLY, EARLY + timedelta(minutes=5), EARLY + timedelta(minutes=10), EARLY + timedelta(days=1)):
        result = _run_due(monkeypatch, at)
        assert result.exit_code == 0, result.output
        said.append(result.stderr)
    bad = "alert URL 1 of 2 (unknown:"
    assert [s.count(bad) for s in said] == [1, 0, 0, 1]  # once a day, not once per alert per wake-up
    assert "LLMTRADE_ALERT_URLS" in said[0] and "llmtrade config validate" in said[0] and "json:/bad" not in said[0]
    assert all("unknown:" not in s.replace(bad, "") for s in said)  # no "not sent ... retries it" for it
    assert all(s.count("the next command retries it") == 1 for s in said)  # the dead one: retried at each
    failed = [AlertFailed.from_event(e) for e in stored_events(cli_env["DATABASE_URL"], type="AlertFailed")]
    assert len(failed) == 4 and all(f.target.startswith("json:") for f in failed)  # the dead URL's, none of json:/bad
    rejected = stored_events(cli_env["DATABASE_URL"], type="AlertUrlRejected")  # recorded as such, once a day
    assert [(e.payload["day"], e.payload["target"][:8]) for e in rejected] == [
        ("2026-01-14", "unknown:"),
        ("2026-01-15", "unknown:"),
    ]


def test_an_alert_owed_to_a_url_taken_out_is_given_up_after_three_days_and_the_look_back_ends(
    storage: Storage,
) -> None:
    # A run failed at FIXED_NOW and its alert failed to the URL set then; the user then replaced that URL. Owed to a
    # URL no longer set, the alert was never tried nor given up, and the incidents' look-back kept reaching back to
    # its failure at every wake-up (an old incident found again there went to the new URL).
    old, new = "json://127.0.0.1:9/old", "json://127.0.0.1:9/new"
    at = FixedClock(FIXED_NOW)
    failing = RunFailed(command="checkpoint", error_type="StageError", error="boom", duration_ms=1)
    EventStore(storage.conn, at).append([NewEvent.of(failing, stream="run:r1", run_id="r1")])
    [incident] = find_incidents(EventStore(storage.conn, at), CONFIG, FIXED_NOW, silence=False)
    events = EventStore(storage.conn, at)
    assert len(dispatch(events, [incident], [old], lambda *_: "connection refused", FIXED_NOW).failed) == 1
    sent: list[str] = []

    def to(url: str, title: str, body: str) -> str | None:
        sent.append(url)
        return None

    def later(days: float) -> tuple[EventStore, datetime]:
        when = FIXED_NOW + timedelta(days=days)
        return EventStore(storage.conn, FixedClock(when)), when

    events, when = later(1)  # the URL may yet come back (a variable missing from one cron line): still owed
    assert dispatch(events, [], [new], to, when).given_up == []
    assert [a.target for a in owed_alerts(events)] == [target_of(old)]
    events, when = later(3)
    assert [i.key for i in find_incidents(events, CONFIG, when, silence=False)] == [incident.key]  # still looked for
    [gone] = dispatch(events, [], [new], to, when).given_up
    assert (gone.key, gone.target, gone.attempts, gone.first_failed_at) == (incident.key, target_of(old), 1, FIXED_NOW)
    assert "connection refused" in gone.error and "no longer in LLMTRADE_ALERT_URLS" in gone.error
    assert owed_alerts(events) == []
    assert find_incidents(events, CONFIG, when, silence=False) == []  # the look-back is LOOKBACK again
    events, when = later(4)
    assert dispatch(events, [], [new], to, when).given_up == []  # given up once
    assert sent == []


def test_alerts_owed_when_every_url_is_taken_out_are_given_up_after_three_days_and_said_once(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A cron trial: the alert URL set in the shell where a failure was first seen, then cron's own environment with
    # no LLMTRADE_ALERT_URLS at all. With no URL set no check ran, so the alert owed was never given up, and `status`
    # said at every look for weeks that "the next job command retries it".
    monkeypatch.setenv("LLMTRADE_ALERT_URLS", f"json://127.0.0.1:{_free_port()}/down")
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "synthetic")
    broken = tmp_path / "config"
    broken.mkdir()
    (broken / "risk.yaml").write_text("limits: {max_position_pct: lots}\n")
    assert _run_due(monkeypatch, EARLY, "--config", str(broken)).exit_code == 2
    monkeypatch.delenv("LLMTRADE_ALERT_URLS")
    said = []
    for hours in (1, 73, 74):
        result = _run_due(monkeypatch, EARLY + timedelta(hours=hours))
        assert result.exit_code == 0, result.output
        said.append(result.stderr)
    assert "config-unloadable" not in said[0]  # the URL may yet come back: still owed, nothing to say
    assert "config-unloadable:2026-01-14" in said[1] and "given up: not sent in 1 attempt(s)" in said[1]
    assert "no longer in LLMTRADE_ALERT_URLS" in said[1]
    assert "config-unloadable" not in said[2]  # said once
    [gone] = [AlertGivenUp.from_event(e) for e in stored_events(cli_env["DATABASE_URL"], type="AlertGivenUp")]
    assert gone.key == "config-unloadable:2026-01-14" and gone.first_failed_at == EARLY
    with open_storage(Settings(DATABASE_URL=cli_env["DATABASE_URL"]), FixedClock(EARLY)) as storage:
        assert owed_alerts(storage.events) == []
