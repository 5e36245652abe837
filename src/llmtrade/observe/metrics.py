"""Prometheus metrics of llmtrade, read from the event store: right after a crash, the same in every process.

Nothing here counts in memory. Every metric comes from the `events` table (whose calls are the model call
records, LLMCallCompleted and LLMCallFailed), through a projection of its totals that each read first brings up
to date with the events written since the last (storage/metric_totals.py: the read costs what is new, not the
history), so the file written after a command that died half-way still says what happened, and `llmtrade
metrics` on another machine prints the same text.

Names (all `llmtrade_`), by label:
- job (the command a run ran: run-weekly, checkpoint, postmortem...): `last_success_timestamp_seconds`
  (the last RunFinished; a failed run leaves it), `last_run_timestamp_seconds`, `last_run_status`
  (one series per status ok|degraded|failed|waiting, 1 for the last run's; a run killed without warning, RunKilled,
  is failed; one that stopped to wait, exit 75 after its StageDeferred, is waiting: no failure, asked again by the
  next wake-up), `last_run_duration_seconds`, `runs_total` (also by status)
- stage: `last_stage_duration_seconds`, `stage_failures_total`, `stage_waits_total` (a stage that stopped to wait,
  errors.Waiting, is counted there, not among the failures)
- model: `model_calls_total` (and source live|rules|cache, result ok|failed), `model_tokens_total` (and kind
  prompt|completion), `model_cost_usd_total`, `model_cache_hits_total`
- account: `orders_submitted_total`, `orders_rejected_total`, `fills_total`, `breaker_halted` (1 halted,
  0 trading; accounts whose breaker never changed are absent), `equity_usd` (the latest valuation),
  `equity_valued_timestamp_seconds` (when it was valued: an alert on its age sees a job that stopped valuing)
- provider: `market_data_fallbacks_total` (a provider failed and the next was asked),
  `market_data_rejections_total`
- rule: `hard_limit_clamps_total` (the risk gate's adjustments)

The text is written by observe/exposition.py, the same bytes prometheus_client would write; prometheus_client
itself is imported only to push (its import alone cost about 1% of an offline run-weekly).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmtrade.observe.exposition import Family, render, to_collector, write_textfile
from llmtrade.storage import metric_totals
from llmtrade.threads import within

if TYPE_CHECKING:
    import psycopg

FILE_NAME = "llmtrade.prom"
PUSH_JOB = "llmtrade"
# The most a push may take: urllib's timeout (10 s) bounds each read, not the answer's whole, and a gateway (or a proxy
# before it) that trickled its headers held the command after its work was done.
PUSH_SECONDS = 15.0
_STATUSES = ("ok", "degraded", "failed", "waiting")
_log = logging.getLogger("llmtrade.metrics")


def snapshot(conn: psycopg.Connection) -> list[Family]:
    """Every metric family, read from the event store on `conn` now (one statement, so one snapshot): the totals
    projection brought up to date (storage/metric_totals.py), or, when it cannot be written, the full aggregate.

    Raises psycopg.errors.UndefinedTable when the database has no events table (never migrated)."""

    def gauge(name: str, doc: str, labels: list[str]) -> Family:
        return Family(f"llmtrade_{name}", "gauge", doc, tuple(labels))

    def counter(name: str, doc: str, labels: list[str]) -> Family:
        return Family(f"llmtrade_{name}", "counter", doc, tuple(labels))

    (ends, successes, run_counts, stages, stage_failures, calls, by_account, breakers, equity, market, clamps,
     stage_waits) = _rows(conn)  # fmt: skip

    success = gauge("last_success_timestamp_seconds", "Unix time of the job's last finished run.", ["job"])
    for job, at in successes:
        success.add([job], float(at))
    last_at = gauge("last_run_timestamp_seconds", "Unix time the job's last run ended (finished or failed).", ["job"])
    status = gauge("last_run_status", "1 for the status of the job's last run, 0 for the others.", ["job", "status"])
    duration = gauge("last_run_duration_seconds", "How long the job's last run took.", ["job"])
    # Each status is decided in SQL (migration 0016 `metric_run_status`): a killed run failed, a run that stopped to
    # wait is waiting (an alert on "failed" paged for every price a minute late).
    for job, now, at, ms in ends:
        last_at.add([job], float(at))
        duration.add([job], ms / 1000)
        for name in _STATUSES:
            status.add([job, name], 1.0 if name == now else 0.0)
    runs = counter("runs", "Runs ended, by job and status.", ["job", "status"])
    for job, outcome, n in run_counts:
        runs.add([job, outcome], n)

    stage = gauge("last_stage_duration_seconds", "How long the stage took the last time it ran.", ["stage"])
    for name, ms in stages:
        stage.add([name], ms / 1000)
    failures = counter("stage_failures", "Stages that failed.", ["stage"])
    for name, n in stage_failures:
        failures.add([name], n)
    # A stage that stopped to wait (errors.Waiting) is no failure: an alert on failures paged for every late price.
    waits = counter("stage_waits", "Stages that stopped to wait (asked again by the next wake-up).", ["stage"])
    for name, n in stage_waits:
        waits.add([name], n)

    model_calls = counter("model_calls", "Model calls recorded.", ["model", "source", "result"])
    tokens = counter("model_tokens", "Tokens of recorded model calls.", ["model", "kind"])
    cost = counter("model_cost_usd", "Cost of recorded model calls, US dollars.", ["model"])
    hits = counter("model_cache_hits", "Model answers served from the replay cache.", ["model"])
    per_model: dict[str, list[float]] = {}
    for model, source, result, n, prompt, completion, usd in calls:
        model_calls.add([model, source, result], n)
        totals = per_model.setdefault(model, [0, 0, 0.0, 0])
        totals[0] += prompt
        totals[1] += completion
        totals[2] += usd
        totals[3] += n if source == "cache" else 0
    for model, (prompt, completion, usd, cached) in sorted(per_model.items()):
        tokens.add([model, "prompt"], prompt)
        tokens.add([model, "completion"], completion)
        cost.add([model], usd)
        hits.add([model], cached)

    families = {
        "OrderSubmitted": counter("orders_submitted", "Orders sent to a broker.", ["account"]),
        "OrderRejected": counter("orders_rejected", "Orders a broker refused.", ["account"]),
        "OrderFilled": counter("fills", "Fills recorded.", ["account"]),
    }
    for kind, account, n in by_account:
        families[kind].add([account or ""], n)
    halted = gauge("breaker_halted", "1 while the account's circuit breaker halts it.", ["account"])
    for account, is_halted in breakers:
        halted.add([account], 1.0 if is_halted else 0.0)
    equity_usd = gauge("equity_usd", "The account's equity at its latest valuation, US dollars.", ["account"])
    valued_at = gauge("equity_valued_timestamp_seconds", "Unix time of the account's latest valuation.", ["account"])
    for account, value, at in equity:
        equity_usd.add([account], value)
        if at is not None:  # a projection folded before migration 0014 until its rebuild
            valued_at.add([account], float(at))

    fallbacks = counter("market_data_fallbacks", "A market data provider failed; the next was asked.", ["provider"])
    rejections = counter("market_data_rejections", "Bars a provider gave that failed validation.", ["provider"])
    for kind, provider, n in market:
        (fallbacks if kind == "MarketProviderFailed" else rejections).add([provider or ""], n)
    clamp = counter("hard_limit_clamps", "Orders the risk gate cut or refused, by rule.", ["rule"])
    for rule, n in clamps:
        clamp.add([rule or ""], n)

    return [
        success,
        last_at,
        status,
        duration,
        runs,
        stage,
        failures,
        waits,
        model_calls,
        tokens,
        cost,
        hits,
        *families.values(),
        halted,
        equity_usd,
        valued_at,
        fallbacks,
        rejections,
        clamp,
    ]


def _rows(conn: psycopg.Connection) -> list[list[list[Any]]]:
    """The families' rows from the projection; from the full aggregate when the projection cannot be written
    (a read-only database or role, a refresh stuck behind a lock): slower, the same text, logged."""
    import psycopg

    try:
        if conn.autocommit:
            return metric_totals.refresh(conn)
        with conn.transaction():  # a savepoint: a failed refresh leaves the caller's transaction usable
            return metric_totals.refresh(conn)
    except psycopg.Error as exc:
        if conn.closed or conn.broken:
            raise  # the connection is gone: the caller connects again (commands/metrics.py)
        _log.warning(
            "metric totals not refreshed; aggregated over every event instead",
            extra={"fields": {"error_type": type(exc).__name__, "error": str(exc)}},
        )
    return metric_totals.aggregate(conn)


def registry(conn: psycopg.Connection) -> list[Family]:
    """The snapshot the file and the push both say (an alias of `snapshot`, the name callers know)."""
    return snapshot(conn)


def text(conn: psycopg.Connection) -> str:
    """The metrics in the Prometheus text exposition format (version 0.0.4)."""
    return render(snapshot(conn))


def write(found: list[Family], folder: Path) -> Path:
    """Write `folder`/llmtrade.prom atomically and durably (a synced temporary file renamed over it, as
    node_exporter's textfile collector needs: exposition.py `write_textfile`); returns its path.
    Raises OSError when the folder cannot be written."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAME
    write_textfile(found, path)
    return path


def push(found: list[Family], url: str) -> None:
    """PUT the metrics to the Pushgateway at `url` under job "llmtrade" (replacing what it held for the job).

    Raises OSError (urllib's URLError, HTTPError; TimeoutError past PUSH_SECONDS) when it does not answer or refuses."""
    from prometheus_client import push_to_gateway

    collector = to_collector(found)
    within(lambda: push_to_gateway(url, job=PUSH_JOB, registry=collector, timeout=10), PUSH_SECONDS)
