"""Alerts (issue 16) against a loopback HTTP sink (apprise's json://) and a local SMTP server (aiosmtpd,
mailto://): each incident fires once per URL and not again the same day; a failed send is recorded and
retried by the next check, never raised."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from llmtrade.alerts.dispatch import Sender, dispatch
from llmtrade.alerts.incidents import find_incidents
from llmtrade.alerts.send import BODY_MAX, clip, send, target_of, urls_from
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.account_events import AccountHalted, AccountResumed
from llmtrade.domain.alerts import AlertFailed, AlertGivenUp, AlertSent
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.events import BudgetRefused, EventPayload, NewEvent
from llmtrade.domain.reconciliation import Difference, ReconciliationDifferenceFound
from llmtrade.domain.runs import RunFailed, RunFinished, RunKilled
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW

CONFIG = load_config(None).config
KINDS = {"run-failed", "run-degraded", "breaker", "drawdown", "budget", "reconciliation"}


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class HttpSink:
    def __init__(self, port: int = 0):
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _Sink)
        self.server.received = []  # type: ignore[attr-defined]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def received(self) -> list[dict[str, Any]]:
        return self.server.received  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/alerts"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[_Mailbox, str]]:
    box, port = _Mailbox(), _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, f"mailto://127.0.0.1:{port}?from=llmtrade@example.com&to=ops@example.com&mode=insecure"
    controller.stop()


def _append(events: EventStore, payload: EventPayload, stream: str, **ids: Any) -> None:
    events.append([NewEvent.of(payload, stream=stream, **ids)])


def _incidents_on_record(storage: Storage) -> None:
    """One of each event kind, recorded an hour before FIXED_NOW."""
    events = EventStore(storage.conn, FixedClock(FIXED_NOW - timedelta(hours=1)))
    _append(
        events,
        RunFailed(command="checkpoint", error_type="StageError", error="boom", duration_ms=10),
        "run:r1",
        run_id="r1",
    )
    _append(
        events,
        RunFinished(
            command="run-weekly",
            degraded=True,
            llm_calls=1,
            prompt_tokens=1,
            completion_tokens=1,
            cost_usd=0,
            duration_ms=1,
        ),
        "run:r2",
        run_id="r2",
    )
    _append(events, AccountHalted(account_id="acct_3", reason="drawdown 21%"), "breaker:acct_3", account_id="acct_3")
    _append(events, AccountResumed(account_id="acct_4", reason="three wins"), "breaker:acct_4", account_id="acct_4")
    for equity in (100_000.0, 84_000.0):
        _append(
            events,
            AccountValued(
                account_id="acct_3",
                equity=equity,
                cash=0,
                realized_pnl=None,
                unrealized_pnl=None,
                occasion="checkpoint",
            ),
            "valuations:acct_3",
            account_id="acct_3",
        )
    _append(
        events,
        BudgetRefused(
            role="pm_pitch",
            model="m",
            budget="run",
            limit_usd=1,
            spent_usd=0.9,
            reserved_usd=0,
            worst_case_usd=0.2,
            reason="over",
        ),
        "llm:r3",
        run_id="r3",
    )
    difference = Difference(kind="unmanaged_position", symbol="SPY", broker_qty=10, ledger_qty=0)
    _append(
        events,
        ReconciliationDifferenceFound(account_id="acct_1", difference=difference, occasion="week start"),
        "reconciliation:acct_1:x",
        account_id="acct_1",
    )


def _check(storage: Storage, urls: list[str], now: datetime = FIXED_NOW, *, silence: bool = False) -> Any:
    return dispatch(storage.events, find_incidents(storage.events, CONFIG, now, silence=silence), urls, send)


def test_each_alert_fires_once_to_each_local_sink_and_not_again_the_same_day(
    storage: Storage, http_sink: HttpSink, smtp: tuple[_Mailbox, str]
) -> None:
    box, mail_url = smtp
    http_sink.received.clear()
    box.messages.clear()
    _incidents_on_record(storage)

    first = _check(storage, [http_sink.url, mail_url])
    assert {a.kind for a in first.sent} == KINDS and not first.failed
    assert len(http_sink.received) == len(box.messages) == len(first.sent) // 2 == 7  # two breaker changes
    titles = sorted(m["title"] for m in http_sink.received)
    assert "llmtrade: checkpoint failed (StageError)" in titles
    assert "llmtrade: acct_3 is 16.0% below its peak" in titles
    assert sorted(m["Subject"] for m in box.messages) == titles

    again = _check(storage, [http_sink.url, mail_url], FIXED_NOW + timedelta(hours=3))
    assert again.sent == [] and again.skipped == 14
    assert len(http_sink.received) == len(box.messages) == 7
    recorded = [AlertSent.from_event(e) for e in storage.events.read(type="AlertSent")]
    assert len(recorded) == 14 and all(mail_url not in a.target and "127.0.0.1" not in a.target for a in recorded)

    # The next day a state still true (the drawdown) is told again; events already told are not.
    next_day = _check(storage, [http_sink.url, mail_url], FIXED_NOW + timedelta(days=1))
    assert [a.kind for a in next_day.sent] == ["drawdown", "drawdown"]


def test_a_job_that_keeps_failing_is_one_incident_a_day(storage: Storage) -> None:
    # cron's run-due retries a failing checkpoint every five minutes: one alert today, one tomorrow.
    for minutes, run_id in ((60, "a"), (55, "b"), (50, "c")):
        at = EventStore(storage.conn, FixedClock(FIXED_NOW - timedelta(minutes=minutes)))
        failure = RunFailed(command="checkpoint", error_type="StageError", error="boom", duration_ms=1)
        _append(at, failure, f"run:{run_id}", run_id=run_id, week_id=FIXED_NOW.date())
    [today] = find_incidents(storage.events, CONFIG, FIXED_NOW, silence=False)
    assert today.key == "run-failed:checkpoint:2026-01-07:StageError:2026-01-07"
    tomorrow = EventStore(storage.conn, FixedClock(FIXED_NOW + timedelta(days=1)))
    failure = RunFailed(command="checkpoint", error_type="StageError", error="boom", duration_ms=1)
    _append(tomorrow, failure, "run:d", run_id="d", week_id=FIXED_NOW.date())
    keys = [i.key for i in find_incidents(storage.events, CONFIG, FIXED_NOW + timedelta(days=1), silence=False)]
    assert keys == [today.key, "run-failed:checkpoint:2026-01-07:StageError:2026-01-08"]


def test_a_run_killed_without_warning_is_alerted_once(storage: Storage, http_sink: HttpSink) -> None:
    # SIGKILL leaves no RunFailed: the next run records RunKilled (app/killed_runs.py), which no alert read.
    http_sink.received.clear()
    events = EventStore(storage.conn, FixedClock(FIXED_NOW - timedelta(hours=1)))
    killed = RunKilled(
        command="run-due", found_by="r8", last_event_type="OrderSubmitted", last_event_at=FIXED_NOW - timedelta(hours=2)
    )
    _append(events, killed, "run:r7", run_id="r7", week_id=FIXED_NOW.date())
    [incident] = [i for i in find_incidents(storage.events, CONFIG, FIXED_NOW, silence=False) if i.kind == "run-killed"]
    assert incident.key == "run-killed:run-due:r7"
    assert incident.title == "llmtrade: run-due recorded no end (killed, or lost its database)"
    assert "r7" in incident.body and "OrderSubmitted" in incident.body
    assert [a.key for a in _check(storage, [http_sink.url]).sent if a.key.startswith("run-killed")] == [incident.key]
    assert not [a for a in _check(storage, [http_sink.url], FIXED_NOW + timedelta(days=1)).sent if "killed" in a.key]


def test_an_alert_that_fails_to_send_is_recorded_and_sent_by_the_next_check(storage: Storage) -> None:
    port = _free_port()
    url = f"json://127.0.0.1:{port}/alerts"  # nothing listens yet
    events = EventStore(storage.conn, FixedClock(FIXED_NOW - timedelta(hours=1)))
    _append(events, RunFailed(command="run-weekly", error_type="X", error="y", duration_ms=1), "run:r9", run_id="r9")

    failed = _check(storage, [url])
    key = "run-failed:run-weekly:None:X:2026-01-07"
    assert failed.sent == [] and [f.key for f in failed.failed] == [key]
    [record] = [AlertFailed.from_event(e) for e in storage.events.read(type="AlertFailed")]
    assert record.target == target_of(url) and "127.0.0.1" not in record.target

    sink = HttpSink(port)
    try:
        retried = _check(storage, [url])
        assert [a.key for a in retried.sent] == [key]
        assert [m["title"] for m in sink.received] == ["llmtrade: run-weekly failed (X)"]
        assert _check(storage, [url]).sent == []
    finally:
        sink.stop()


def test_an_alert_failing_for_three_days_is_given_up_said_once_and_never_tried_again(storage: Storage) -> None:
    # A cron trial: one January alert tried (and printed) at every wake-up into late February.
    url = "json://127.0.0.1:9/alerts"
    tried: list[str] = []

    def down(url: str, title: str, body: str) -> str:
        tried.append(title)
        return "connection refused"

    failing = RunFailed(command="run-weekly", error_type="X", error="y", duration_ms=1)
    _append(EventStore(storage.conn, FixedClock(FIXED_NOW - timedelta(hours=1))), failing, "run:r5", run_id="r5")
    outcomes = []
    for hours in (0, 5, 24, 71, 72, 80, 24 * 30):
        at = FIXED_NOW + timedelta(hours=hours)
        events = EventStore(storage.conn, FixedClock(at))
        incidents = [i for i in find_incidents(events, CONFIG, at, silence=False) if i.kind == "run-failed"]
        done = dispatch(events, incidents, [url], down, at)
        outcomes.append((len(done.failed), len(done.given_up)))
    assert outcomes == [(1, 0), (1, 0), (1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    assert len(tried) == 5  # the 5th, at 72 h, was the last try; none after it was given up
    [gone] = [AlertGivenUp.from_event(e) for e in storage.events.read(type="AlertGivenUp")]
    assert gone.attempts == 5 and gone.error == "connection refused" and gone.first_failed_at == FIXED_NOW


def test_an_alert_owed_past_the_give_up_time_is_tried_once_more_and_sent_if_the_endpoint_answers(
    storage: Storage,
) -> None:
    # The first send failed as the network went down with the machine suspending; it came back 4 days later with the
    # endpoint working: the alert was given up untried.
    failing = RunFailed(command="run-weekly", error_type="X", error="y", duration_ms=1)
    _append(EventStore(storage.conn, FixedClock(FIXED_NOW - timedelta(hours=1))), failing, "run:p5", run_id="p5")
    url = "json://127.0.0.1:9/alerts"
    tried: list[str] = []

    def sender(ok: bool) -> Sender:
        def send(url: str, title: str, body: str) -> str | None:
            tried.append(title)
            return None if ok else "connection refused"

        return send

    for at, ok in ((FIXED_NOW, False), (FIXED_NOW + timedelta(days=4), True)):
        events = EventStore(storage.conn, FixedClock(at))
        incidents = [i for i in find_incidents(events, CONFIG, at, silence=False) if i.kind == "run-failed"]
        done = dispatch(events, incidents, [url], sender(ok), at)
    assert len(tried) == 2
    assert len(done.sent) == 1 and done.given_up == []
    assert not storage.events.read(type="AlertGivenUp")


def test_silence_is_an_incident_after_eight_days_without_a_successful_weekly_run(storage: Storage) -> None:
    old = EventStore(storage.conn, FixedClock(FIXED_NOW - timedelta(days=9)))
    _append(
        old,
        RunFinished(
            command="run-weekly",
            degraded=False,
            llm_calls=0,
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=0,
            duration_ms=1,
        ),
        "run:old",
        run_id="old",
    )
    assert [i.kind for i in find_incidents(storage.events, CONFIG, FIXED_NOW, silence=True)] == ["silence"]
    assert find_incidents(storage.events, CONFIG, FIXED_NOW, silence=False) == []
    assert find_incidents(storage.events, CONFIG, FIXED_NOW - timedelta(days=2), silence=True) == []


def test_messages_are_cut_to_our_limit_and_say_so() -> None:
    text = "word " * 1000
    cut = clip(text, BODY_MAX)
    assert len(cut) <= BODY_MAX and cut.endswith("more characters: `llmtrade status` has the rest]")
    assert urls_from("json://a/b, mailto://c  discord://d/e") == ["json://a/b", "mailto://c", "discord://d/e"]


def test_run_due_sends_its_silence_alert_and_an_unreachable_url_does_not_change_its_exit_code(
    cli_env: dict[str, str], http_sink: HttpSink, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    http_sink.received.clear()
    # Wednesday 06:00 New York: the new week's run is not due before 08:00, the last week's no longer.
    early = FIXED_NOW + timedelta(days=7, hours=-2)
    with open_storage(Settings(DATABASE_URL=cli_env["DATABASE_URL"]), FixedClock(early - timedelta(days=10))) as s:
        _append(
            s.events,
            RunFinished(
                command="run-weekly",
                degraded=False,
                llm_calls=0,
                prompt_tokens=0,
                completion_tokens=0,
                cost_usd=0,
                duration_ms=1,
            ),
            "run:old",
            run_id="old",
        )
    dead = f"json://127.0.0.1:{_free_port()}/nobody"
    monkeypatch.setenv("LLMTRADE_NOW", early.isoformat())
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "synthetic")
    monkeypatch.setenv("LLMTRADE_ALERT_URLS", f"{http_sink.url}, {dead}")
    result = CliRunner().invoke(app, ["run-due", "--offline"])
    assert result.exit_code == 0, result.output
    assert "not sent" in result.output and "Traceback" not in result.output
    assert [m["title"] for m in http_sink.received if "weekly run" in m["title"]] == [
        "llmtrade: no successful weekly run in 10 days"
    ]
    with open_storage(Settings(DATABASE_URL=cli_env["DATABASE_URL"]), FixedClock(early)) as s:
        assert [AlertFailed.from_event(e).target for e in s.events.read(type="AlertFailed")] == [target_of(dead)]


def test_an_alert_owed_longer_than_the_lookback_is_still_sent_when_the_endpoint_returns(storage: Storage) -> None:
    """An operator's trial: the endpoint down over a weekend, the alert of a Friday's failure was retried for two days
    (LOOKBACK) and then dropped without a word. An alert whose last attempt failed is now sent whatever its age."""
    port = _free_port()
    url = f"json://127.0.0.1:{port}/alerts"  # nothing listens until Monday
    events = EventStore(storage.conn, FixedClock(FIXED_NOW - timedelta(hours=1)))
    _append(events, RunFailed(command="run-weekly", error_type="X", error="y", duration_ms=1), "run:r8", run_id="r8")
    key = "run-failed:run-weekly:None:X:2026-01-07"
    for hours in (0, 24, 48):  # failed at each wake-up the weekend through
        assert [f.key for f in _check(storage, [url], FIXED_NOW + timedelta(hours=hours)).failed] == [key]
    sink = HttpSink(port)
    try:
        monday = _check(storage, [url], FIXED_NOW + timedelta(days=4))
        assert [a.key for a in monday.sent] == [key]
        assert [m["title"] for m in sink.received] == ["llmtrade: run-weekly failed (X)"]
        assert _check(storage, [url], FIXED_NOW + timedelta(days=4, hours=1)).sent == []  # once sent, owed no more
    finally:
        sink.stop()


@pytest.mark.parametrize("command", [["run-due"], ["run-weekly"], ["postmortem"]])
def test_a_configuration_that_cannot_be_loaded_is_alerted_once_a_day_and_still_exits_2(
    command: list[str], cli_env: dict[str, str], http_sink: HttpSink, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An operator's trial broke risk.yaml with cron's output in a log file: every wake-up exited 2 and no alert was
    sent, not even the silence one (its check reads the config). Now the first command of the day says it."""
    http_sink.received.clear()
    broken = tmp_path / "config"
    broken.mkdir()
    (broken / "risk.yaml").write_text("limits: {max_position_pct: lots}\n")
    monkeypatch.setenv("LLMTRADE_NOW", FIXED_NOW.isoformat())
    monkeypatch.setenv("LLMTRADE_ALERT_URLS", http_sink.url)
    for _ in range(2):  # the second wake-up of the day sends nothing more
        result = CliRunner().invoke(app, ["--config", str(broken), "-q", *command])
        assert result.exit_code == 2 and "risk.yaml" in result.stderr, result.output
    [alert] = http_sink.received
    assert alert["title"] == "llmtrade: the configuration cannot be loaded; nothing runs"
    assert f"{command[0]} did not start" in alert["message"] and "risk.yaml" in alert["message"]
    monkeypatch.setenv("LLMTRADE_NOW", (FIXED_NOW + timedelta(days=1)).isoformat())
    assert CliRunner().invoke(app, ["--config", str(broken), *command]).exit_code == 2
    assert len(http_sink.received) == 2  # once a day while it lasts


def test_a_dry_run_with_a_configuration_that_cannot_be_loaded_sends_nothing(
    cli_env: dict[str, str], http_sink: HttpSink, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    http_sink.received.clear()
    (tmp_path / "risk.yaml").write_text("limits: {max_position_pct: lots}\n")
    monkeypatch.setenv("LLMTRADE_ALERT_URLS", http_sink.url)
    assert CliRunner().invoke(app, ["--config", str(tmp_path), "run-weekly", "--dry-run"]).exit_code == 2
    assert http_sink.received == []


def test_config_validate_names_an_alert_url_that_can_never_send_and_never_its_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new user's trial: LLMTRADE_ALERT_URLS=notaurl passed `config validate`, and was found at the first incident,
    when an alert was needed (then retried for days, as a service down would be)."""
    secret = "discord://s3cretwebhook"  # a Discord URL needs its webhook id and token: apprise makes nothing of it
    monkeypatch.setenv("LLMTRADE_ALERT_URLS", f"json://localhost:8080/hook, notaurl {secret}")
    refused = CliRunner().invoke(app, ["config", "validate"])
    assert refused.exit_code == 2, refused.output
    assert "LLMTRADE_ALERT_URLS" in refused.stderr and "URL 2 of 3 (unknown:" in refused.stderr
    assert "URL 3 of 3 (discord:" in refused.stderr and "URL 1 of 3" not in refused.stderr
    assert "s3cretwebhook" not in refused.output
    monkeypatch.setenv("LLMTRADE_ALERT_URLS", "json://localhost:8080/hook")
    assert CliRunner().invoke(app, ["config", "validate"]).exit_code == 0
