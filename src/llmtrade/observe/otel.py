"""OpenTelemetry export of runs and model calls, only when an OTLP endpoint is configured.

Nothing leaves the machine by default: without OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT)
nothing here runs and the opentelemetry packages are never imported (they are the optional `otel` extra:
`pip install llmtrade[otel]`). With one, after a command, each run it started, and each run whose end it recorded for
a process gone (a killed run's RunKilled: app/killed_runs.py), is exported as one trace over OTLP/HTTP, built from the
run's events (observe/timeline.py), so what is exported is what is on file:

- the run: span `llmtrade <command>`, its trace id `domain.tracing.trace_id_of(run_id)` (the same id as
  the run's log lines), attributes llmtrade.run_id, llmtrade.mode, llmtrade.status; status ERROR when it failed or
  was killed (not when it stopped to wait);
- each stage: a child span `stage <name>` (status ERROR when it failed);
- each model call: a child of its stage, named `chat <model>` with the GenAI semantic conventions
  (gen_ai.operation.name, gen_ai.provider.name, gen_ai.request.model, gen_ai.usage.input_tokens,
  gen_ai.usage.output_tokens, error.type) and llmtrade.cost_usd, llmtrade.answer_source; its end is when
  its record was stored, its start that minus its latency.

Span times come from the events' clock, so a run under LLMTRADE_NOW shows at that instant.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from llmtrade.domain.tracing import trace_id_of
from llmtrade.errors import UsageError
from llmtrade.observe.timeline import RunTrace, trace_run
from llmtrade.threads import within

if TYPE_CHECKING:
    from llmtrade.storage.event_store import EventStore

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
# The most an export may take. The exporter's timeout (10 s) bounds its retries and each read, not a whole answer: an
# endpoint that trickled its answer held a cron run-due, its work done, for hours; and a request that timed out was
# made twice (urllib3's own retry), 20 s for an endpoint that never answered.
EXPORT_SECONDS = 15.0


class ExportFailed(Exception):
    """The OTLP endpoint did not take the spans (unreachable, refused)."""


def configured() -> bool:
    """Whether an OTLP endpoint is set (the only case in which anything is exported)."""
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def export_runs(events: EventStore, run_ids: Sequence[str]) -> int:
    """Export the runs' traces to the configured endpoint; returns the number of spans sent.

    Raises ExportFailed when the endpoint does not take them, ImportError without the `otel` extra."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    spans = [span for run_id in run_ids if (run := _on_file(events, run_id)) for span in _spans(run)]
    if not spans:
        return 0
    # The exporter logs its own failure too; with no handler of its own, Python's last-resort handler would
    # print it on stderr as a second message beside ours.
    logging.getLogger("opentelemetry").addHandler(logging.NullHandler())
    exporter = OTLPSpanExporter(timeout=10)
    try:
        result = within(lambda: exporter.export(spans), EXPORT_SECONDS)
    except TimeoutError:
        raise ExportFailed(
            f"the OTLP endpoint {endpoint()} gave no answer within {EXPORT_SECONDS:g} s; {len(spans)} span(s) not sent"
        ) from None
    finally:
        exporter.shutdown()  # also ends a retry's wait, should the export still be running
    if result is not SpanExportResult.SUCCESS:
        raise ExportFailed(f"the OTLP endpoint {endpoint()} did not take {len(spans)} span(s)")
    return len(spans)


def endpoint() -> str:
    """Where the spans go, as the exporter reads the variables: the traces' own URL whole, else the base URL's
    /v1/traces (never a secret: OTLP headers carry those)."""
    traces = os.environ.get(ENDPOINT_VARIABLES[0], "").strip()
    if traces:
        return traces
    return os.environ.get(ENDPOINT_VARIABLES[1], "").strip().rstrip("/") + "/v1/traces"


def _on_file(events: EventStore, run_id: str) -> RunTrace | None:
    # A backtest's runs are in its own database, not the one the command's metrics and traces read.
    try:
        return trace_run(events, run_id)
    except UsageError:
        return None


def _ns(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000_000)


def _spans(run: RunTrace) -> list[Any]:
    """The run's spans, finished, in an in-memory exporter's list (the OTLP exporter sends them as one batch)."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
    from opentelemetry.trace import SpanKind, Status, StatusCode

    class _RunTraceId(RandomIdGenerator):
        def generate_trace_id(self) -> int:
            return int(trace_id_of(run.run_id), 16)

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "llmtrade"}), id_generator=_RunTraceId())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("llmtrade")

    # A run with no end of its own (killed, unfinished) has no duration on record: its span ends when it was last known
    # alive (a killed run's RunKilled says when), not at its start, where a backend showed it zero long.
    if run.duration_ms is None and run.last_alive_at is not None:
        run_end = max(run.last_alive_at, run.started_at)
    else:
        run_end = run.started_at + timedelta(milliseconds=run.duration_ms or 0)
    root = tracer.start_span(
        f"llmtrade {run.command or 'run'}",
        kind=SpanKind.INTERNAL,
        start_time=_ns(run.started_at),
        attributes={"llmtrade.run_id": run.run_id, "llmtrade.mode": run.mode or "", "llmtrade.status": run.status},
    )
    # A run killed without warning (RunKilled: no end of its own and no process holds its lease) failed as surely as
    # one that recorded its failure: it was exported unmarked, as a run that ended well. A run that stopped to wait
    # (exit 75 after its StageDeferred) is no error: the next wake-up asks again.
    if run.status in ("failed", "killed"):
        root.set_status(Status(StatusCode.ERROR, "killed" if run.status == "killed" else None))
    in_root = trace.set_span_in_context(root)
    stages: dict[str, Any] = {}
    for stage in run.stages:
        span = tracer.start_span(f"stage {stage.name}", context=in_root, start_time=_ns(stage.started_at))
        span.set_attribute("llmtrade.stage", stage.name)
        if stage.outcome == "failed":
            span.set_status(Status(StatusCode.ERROR))
        # A stage that never ended (its run killed) ran, as far as is known, until the run was last known alive.
        if stage.duration_ms is None:
            end = max(run_end, stage.started_at)
        else:
            end = stage.started_at + timedelta(milliseconds=stage.duration_ms)
        stages[stage.name] = (span, end)
    for entry in run.entries:
        # A rules answer is exported as a call is, its source said (llmtrade.answer_source "rules").
        if entry.kind not in ("model_call", "rules_answer"):
            continue
        parent = stages[entry.stage][0] if entry.stage in stages else root
        latency = timedelta(milliseconds=entry.duration_ms or 0)
        failed = entry.name == "LLMCallFailed"
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": entry.model or "",
            "gen_ai.usage.input_tokens": entry.prompt_tokens or 0,
            "gen_ai.usage.output_tokens": entry.completion_tokens or 0,
            "llmtrade.answer_source": entry.source or "",
            "llmtrade.event_id": entry.event_id,
        }
        if entry.provider:
            attributes["gen_ai.provider.name"] = entry.provider
        if entry.cost_usd is not None:
            attributes["llmtrade.cost_usd"] = entry.cost_usd
        if failed:
            attributes["error.type"] = entry.error_type or "error"
        span = tracer.start_span(
            f"chat {entry.model}",
            context=trace.set_span_in_context(parent),
            kind=SpanKind.CLIENT,
            start_time=_ns(entry.at - latency),
            attributes=attributes,
        )
        if failed:
            span.set_status(Status(StatusCode.ERROR, entry.detail))
        span.end(end_time=_ns(entry.at))
    for span, end in stages.values():
        span.end(end_time=_ns(end))
    root.end(end_time=_ns(run_end))
    provider.shutdown()
    return list(memory.get_finished_spans())
