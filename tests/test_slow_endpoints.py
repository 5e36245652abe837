"""A service after the command (an alert's URL, the OTLP endpoint, the Pushgateway) that answers a byte at a time never
holds the cron job: each send has a bound of its own, and nothing it leaves running keeps the process from ending.

Found in a trial under cron: a webhook whose answer trickled in held `run-due` for good after its work was done (its
client bounds each read, not the whole answer), and a SIGTERM then printed its line but did not end the process,
which waited at exit for apprise's worker thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from llmtrade.alerts import send as alert_send
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import run_stream
from llmtrade.storage.bootstrap import Storage

# How long the server trickles before it gives up; the code before the bounds waited all of it.
TRICKLE_SECONDS = 8.0


def _trickle(listener: socket.socket, stop: threading.Event, head: bytes, drop: bytes) -> None:
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=_answer_slowly, args=(conn, stop, head, drop), daemon=True).start()


def _answer_slowly(conn: socket.socket, stop: threading.Event, head: bytes, drop: bytes) -> None:
    with conn:
        conn.settimeout(2)
        try:
            conn.recv(65536)
            conn.sendall(head)
            ends = time.monotonic() + TRICKLE_SECONDS
            while time.monotonic() < ends and not stop.is_set():
                conn.sendall(drop)  # well within any client's read timeout
                time.sleep(0.2)
        except OSError:
            pass


def _serve(head: bytes, drop: bytes) -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()
    threading.Thread(target=_trickle, args=(listener, stop, head, drop), daemon=True).start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()


@pytest.fixture
def trickling() -> Iterator[str]:
    """host:port of a local HTTP server that answers every request with its headers, then a byte of its body every
    0.2 s, never finishing."""
    yield from _serve(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n", b" ")


@pytest.fixture
def trickling_headers() -> Iterator[str]:
    """host:port of a local HTTP server that answers every request a header line every 0.2 s, never finishing (a
    client that reads no body, as the Pushgateway's, still waits for the headers' end)."""
    yield from _serve(b"HTTP/1.1 200 OK\r\n", b"X-Slow: a\r\n")


def _pool_threads() -> list[threading.Thread]:
    """Threads Python joins at exit (every live non-daemon thread but the main one)."""
    return [t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]


def test_an_alert_url_that_trickles_its_answer_is_given_up_within_its_bound(
    trickling: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alert_send, "SEND_SECONDS", 1.0, raising=False)
    url = f"json://{trickling}/hook"
    assert alert_send.usable(url)  # apprise imported (seconds on a loaded machine) before the clock starts
    before = set(_pool_threads())
    started = time.monotonic()
    error = alert_send.send(url, "title", "body")
    took = time.monotonic() - started
    assert took < 5, f"the send took {took:.1f} s"
    assert error is not None and "no answer within 1 s" in error, error
    assert set(_pool_threads()) <= before  # nothing left that the process would wait for at exit


def test_an_otlp_endpoint_that_trickles_its_answer_is_given_up_within_its_bound_and_named(
    storage: Storage, trickling: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    from llmtrade.observe import otel

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://{trickling}")
    monkeypatch.setattr(otel, "EXPORT_SECONDS", 1.0, raising=False)
    started = {"command": "checkpoint", "arguments": {}, "mode": "offline", "mode_reason": "test",
               "config_source": "test", "version": "0"}  # fmt: skip
    failed = {"command": "checkpoint", "error_type": "StageError", "error": "x", "duration_ms": 5.0, "exit_code": 1}
    shown = (("RunStarted", started), ("RunFailed", failed))
    storage.events.append([NewEvent(type=t, stream=run_stream("r-1"), payload=p, run_id="r-1") for t, p in shown])
    before = set(_pool_threads())
    began = time.monotonic()
    with pytest.raises(otel.ExportFailed) as failure:
        otel.export_runs(storage.events, ["r-1"])
    took = time.monotonic() - began
    assert took < 5, f"the export took {took:.1f} s"
    assert f"http://{trickling}/v1/traces" in str(failure.value)  # where it was sent
    assert "no answer within 1 s" in str(failure.value)
    assert set(_pool_threads()) <= before


def test_a_pushgateway_that_trickles_its_answer_is_given_up_within_its_bound(
    trickling_headers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmtrade.observe import metrics
    from llmtrade.observe.exposition import Family

    monkeypatch.setattr(metrics, "PUSH_SECONDS", 1.0, raising=False)
    found = [Family("llmtrade_breaker_halted", "gauge", "1 while halted.", ("account",))]
    found[0].add(["acct_1"], 0)
    before = set(_pool_threads())
    began = time.monotonic()
    with pytest.raises(TimeoutError, match="no answer within 1 s"):
        metrics.push(found, f"http://{trickling_headers}")
    took = time.monotonic() - began
    assert took < 5, f"the push took {took:.1f} s"
    assert set(_pool_threads()) <= before


def test_a_url_that_gave_no_answer_is_not_tried_again_by_the_same_command_and_every_alert_stays_owed(
    storage: Storage, trickling: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each send to it waited out the whole bound: a machine back from a week off, with a handful of incidents, held
    # its wake-up for minutes, past the next wake-up, for a URL that had already shown it would not answer.
    from datetime import timedelta

    from llmtrade.alerts.dispatch import dispatch
    from llmtrade.alerts.incidents import find_incidents
    from llmtrade.clock import FixedClock
    from llmtrade.config.loader import load_config
    from llmtrade.domain.alerts import AlertFailed
    from llmtrade.domain.runs import RunFailed
    from llmtrade.storage.event_store import EventStore
    from tests.support import FIXED_NOW

    monkeypatch.setattr(alert_send, "SEND_SECONDS", 1.5, raising=False)
    url = f"json://{trickling}/hook"
    assert alert_send.usable(url)  # apprise imported before the clock starts
    earlier = EventStore(storage.conn, FixedClock(FIXED_NOW - timedelta(hours=1)))
    for command in ("run-weekly", "checkpoint", "postmortem"):
        failure = RunFailed(command=command, error_type="X", error="y", duration_ms=1)
        earlier.append([NewEvent.of(failure, stream=f"run:{command}", run_id=command)])
    config = load_config(None).config

    def check() -> float:
        began = time.monotonic()
        incidents = find_incidents(storage.events, config, FIXED_NOW, silence=False)
        dispatch(storage.events, incidents, [url], alert_send.send, FIXED_NOW)
        return time.monotonic() - began

    took = check()
    assert took < 4, f"the alerts took {took:.1f} s"  # one wait for the URL, not three
    failed = [AlertFailed.from_event(e) for e in storage.events.read(type="AlertFailed")]
    assert len(failed) == 3  # each alert recorded, owed to the next command
    assert sum("no answer within 1.5 s" in f.error for f in failed) == 3, [f.error for f in failed]
    took = check()  # the next command: the URL tried once more, the other alerts still owed, untried
    assert took < 4, f"the alerts took {took:.1f} s"
    assert len(storage.events.read(type="AlertFailed")) == 4
