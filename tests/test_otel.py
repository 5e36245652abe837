"""Issue 16 item 6: runs and model calls as OpenTelemetry spans, sent over OTLP/HTTP to a loopback receiver,
only when an endpoint is configured."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import RunStarted
from llmtrade.domain.streams import run_stream
from llmtrade.domain.tracing import trace_id_of
from llmtrade.observe.otel import export_runs
from llmtrade.storage.bootstrap import Storage

pytest.importorskip("opentelemetry.sdk", reason="the optional `otel` extra")
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

runner = CliRunner()


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((self.path, body))
        self.send_response(_Receiver.status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received, _Receiver.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _council(cli_env: dict[str, str]) -> tuple[Any, str]:
    result = runner.invoke(app, ["council", "Is the dollar strong?", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    return result, json.loads(result.stdout)["run_id"]


def _attributes(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        value = kv.value
        out[kv.key] = value.string_value if value.HasField("string_value") else value.int_value
    return out


def test_a_run_and_its_model_calls_are_exported_as_one_trace_with_genai_attributes(
    cli_env: dict[str, str], receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver)
    _, run_id = _council(cli_env)
    [(path, body)] = _Receiver.received
    assert path == "/v1/traces"
    spans = [
        span
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert {span.trace_id.hex() for span in spans} == {trace_id_of(run_id)}  # the log lines' trace id
    [root] = [span for span in spans if not span.parent_span_id]
    assert root.name == "llmtrade council"
    assert _attributes(root)["llmtrade.run_id"] == run_id
    calls = [span for span in spans if span.name.startswith("chat ")]
    assert len(calls) >= 3  # every member answers, then ranks
    stages = {span.span_id for span in spans if span.name.startswith("stage ")}
    assert stages and all(span.parent_span_id in stages for span in calls)
    first = _attributes(calls[0])
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.request.model"] == calls[0].name.removeprefix("chat ")
    assert {"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.provider.name"} <= first.keys()


def test_nothing_is_exported_without_an_endpoint(cli_env: dict[str, str], receiver: str) -> None:
    _council(cli_env)
    assert _Receiver.received == []


def test_an_endpoint_that_refuses_is_named_once_and_the_exit_code_stays(
    cli_env: dict[str, str], receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _Receiver.status = 400  # not retried by the exporter
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver)
    result, _ = _council(cli_env)
    assert result.stderr.count("traces not exported") == 1, result.stderr
    assert "Failed to export" not in result.stderr  # the exporter's own log line is not a second message


def test_runs_not_in_this_database_are_skipped_not_an_error(
    storage: Storage, receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver)
    # A backtest's runs are recorded in the backtest's own database.
    assert export_runs(storage.events, ["20260107T130000Z-000000"]) == 0
    assert _Receiver.received == []


def _run(run_id: str, *ending: tuple[str, dict[str, Any]]) -> list[NewEvent]:
    started = {"command": "checkpoint", "arguments": {}, "mode": "offline", "mode_reason": "test",
               "config_source": "test", "version": "0"}  # fmt: skip
    shown = [("RunStarted", started), ("StageStarted", {"stage": "complete"}), *ending]
    return [NewEvent(type=t, stream=run_stream(run_id), payload=p, run_id=run_id) for t, p in shown]


def test_a_killed_run_is_an_error_span_and_a_run_that_stopped_to_wait_is_not(
    storage: Storage, receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A killed run (RunKilled: no end of its own, no process holds its lease) was exported with no status, as a run
    # that ended well: only "failed" was marked an error. A wait (exit 75 after its StageDeferred) is no error.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver)
    last = "2026-01-07T17:01:00+00:00"
    killed = {"command": "checkpoint", "found_by": "r-next", "last_event_type": "StageStarted", "last_event_at": last}
    storage.events.append(_run("r-killed", ("RunKilled", killed)))
    failed = {"command": "checkpoint", "error_type": "StageError", "error": "x", "duration_ms": 5.0, "exit_code": 1}
    storage.events.append(_run("r-failed", ("RunFailed", failed)))
    deferred = {"stage": "complete", "waiting": ["acct_2"], "errors": ["acct_2: TLT"], "deadline": None}
    stage_waited = {"stage": "complete", "duration_ms": 3.0, "error_type": "Waiting", "error": "waiting for TLT"}
    storage.events.append(
        _run(
            "r-wait",
            ("StageDeferred", deferred),
            ("StageFailed", stage_waited),
            ("RunFailed", {**failed, "exit_code": 75}),
        )
    )
    assert export_runs(storage.events, ["r-killed", "r-failed", "r-wait"]) > 0
    roots = {
        _attributes(span)["llmtrade.run_id"]: span
        for _path, body in _Receiver.received
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
        if not span.parent_span_id
    }
    error, unset = Status.STATUS_CODE_ERROR, Status.STATUS_CODE_UNSET
    assert {run: span.status.code for run, span in roots.items()} == {
        "r-killed": error,
        "r-failed": error,
        "r-wait": unset,
    }


def test_the_run_that_records_a_killed_run_exports_its_trace_as_an_error(
    storage: Storage, cli_env: dict[str, str], receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A killed run's process died before its own export, and the run that recorded its RunKilled exported only
    # itself: the killed run never reached the OTLP endpoint at all.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver)
    started = RunStarted(
        command="postmortem", arguments={}, mode="offline", mode_reason="x", config_source="y", version="z", lease=4343
    )
    storage.events.append([NewEvent.of(started, stream=run_stream("r-killed"), run_id="r-killed")])
    _, run_id = _council(cli_env)
    roots = {
        _attributes(span)["llmtrade.run_id"]: span
        for _path, body in _Receiver.received
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
        if not span.parent_span_id
    }
    assert roots.keys() == {run_id, "r-killed"}
    assert roots["r-killed"].name == "llmtrade postmortem"
    assert roots["r-killed"].trace_id.hex() == trace_id_of("r-killed")
    assert roots["r-killed"].status.code == Status.STATUS_CODE_ERROR
    assert roots[run_id].status.code == Status.STATUS_CODE_UNSET


def test_a_killed_run_s_spans_end_when_it_was_last_known_alive(
    storage: Storage, receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A killed run has no duration on record: its span and its unfinished stage's ended at their start, zero long, so
    # a backend showed nothing of the time it ran before it died. Its RunKilled says when it was last known alive.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver)
    storage.events.append(_run("r-killed"))
    at = storage.events.read(run_id="r-killed")[-1].occurred_at + timedelta(seconds=90)
    killed = {"command": "checkpoint", "found_by": "r-next", "last_event_type": "LLMCallCompleted",
              "last_event_at": at.isoformat()}  # fmt: skip
    storage.events.append(
        [NewEvent(type="RunKilled", stream=run_stream("r-killed"), payload=killed, run_id="r-killed")]
    )
    assert export_runs(storage.events, ["r-killed"]) == 2
    spans = {
        span.name: span
        for _path, body in _Receiver.received
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    }
    ends = {name: span.end_time_unix_nano for name, span in spans.items()}
    assert ends == {"llmtrade checkpoint": int(at.timestamp() * 1e9), "stage complete": int(at.timestamp() * 1e9)}
    assert spans["llmtrade checkpoint"].start_time_unix_nano < ends["llmtrade checkpoint"]


def test_an_endpoint_set_without_the_otel_extra_says_what_to_install_once(
    cli_env: dict[str, str], receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cron trial: OTEL_EXPORTER_OTLP_ENDPOINT set on an install without the extra printed "traces not exported:
    # ModuleNotFoundError: No module named 'opentelemetry'" at every wake-up, naming neither the variable nor the fix.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver)
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    result, _ = _council(cli_env)
    assert result.stderr.count("traces not exported") == 1, result.stderr
    assert "OTEL_EXPORTER_OTLP_ENDPOINT is set" in result.stderr
    assert 'pip install "llmtrade[otel]"' in result.stderr
    assert _Receiver.received == []
