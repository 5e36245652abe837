"""Prometheus metrics of llmtrade, read from the event store: right after a crash, the same in every process.

Nothing here counts in memory. Each metric is a query over the `events` table (whose calls are the model
call records, LLMCallCompleted and LLMCallFailed), so the file written after a command that died half-way
still says what happened, and `llmtrade metrics` on another machine prints the same text.

Names (all `llmtrade_`), by label:
- job (the command a run ran: run-weekly, checkpoint, postmortem...): `last_success_timestamp_seconds`
  (the last RunFinished; a failed run leaves it), `last_run_timestamp_seconds`, `last_run_status`
  (one series per status ok|degraded|failed, 1 for the last run's), `last_run_duration_seconds`, `runs_total`
  (also by status)
- stage: `last_stage_duration_seconds`, `stage_failures_total`
- model: `model_calls_total` (and source live|rules|cache, result ok|failed), `model_tokens_total` (and kind
  prompt|completion), `model_cost_usd_total`, `model_cache_hits_total`
- account: `orders_submitted_total`, `orders_rejected_total`, `fills_total`, `breaker_halted` (1 halted,
  0 trading; accounts whose breaker never changed are absent), `equity_usd` (the latest valuation)
- provider: `market_data_fallbacks_total` (a provider failed and the next was asked),
  `market_data_rejections_total`
- rule: `hard_limit_clamps_total` (the risk gate's adjustments)

The text is written by observe/exposition.py, the same bytes prometheus_client would write; prometheus_client
itself is imported only to push (its import alone cost about 1% of an offline run-weekly).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmtrade.observe.exposition import Family, render, to_collector, write_textfile

if TYPE_CHECKING:
    import psycopg

FILE_NAME = "llmtrade.prom"
PUSH_JOB = "llmtrade"
_STATUSES = ("ok", "degraded", "failed")

_RUN_ENDS = """
SELECT payload->>'command', type, coalesce((payload->>'degraded')::boolean, false),
       extract(epoch FROM occurred_at), coalesce((payload->>'duration_ms')::float8, 0)
FROM (SELECT DISTINCT ON (payload->>'command') payload, type, occurred_at
      FROM events WHERE type IN ('RunFinished', 'RunFailed')
      ORDER BY payload->>'command', id DESC) AS last"""
_LAST_SUCCESS = """
SELECT payload->>'command', extract(epoch FROM max(occurred_at))
FROM events WHERE type = 'RunFinished' GROUP BY 1"""
_RUN_COUNTS = """
SELECT payload->>'command',
       CASE WHEN type = 'RunFailed' THEN 'failed'
            WHEN (payload->>'degraded')::boolean THEN 'degraded' ELSE 'ok' END, count(*)
FROM events WHERE type IN ('RunFinished', 'RunFailed') GROUP BY 1, 2"""
_STAGES = """
SELECT DISTINCT ON (payload->>'stage') payload->>'stage', (payload->>'duration_ms')::float8
FROM events WHERE type = 'StageCompleted' AND NOT coalesce((payload->>'loaded')::boolean, false)
ORDER BY payload->>'stage', id DESC"""
_STAGE_FAILURES = "SELECT payload->>'stage', count(*) FROM events WHERE type = 'StageFailed' GROUP BY 1"
# A call's record holds its messages (kilobytes, toasted): jsonb_to_record reads the few fields with one
# detoast per row, where one `->>` per field would decompress the whole payload each time (3x slower).
_CALLS = """
SELECT r.model, CASE WHEN type = 'LLMCallFailed' THEN 'live' ELSE r.source END,
       CASE WHEN type = 'LLMCallFailed' THEN 'failed' ELSE 'ok' END, count(*),
       coalesce(sum(r.prompt_tokens), 0), coalesce(sum(r.completion_tokens), 0), coalesce(sum(r.cost_usd), 0)
FROM events, jsonb_to_record(payload)
     AS r(model text, source text, prompt_tokens bigint, completion_tokens bigint, cost_usd float8)
WHERE type IN ('LLMCallCompleted', 'LLMCallFailed') GROUP BY 1, 2, 3"""
_BY_ACCOUNT = """
SELECT type, coalesce(account_id, payload->'order'->>'account_id', payload->'fill'->>'account_id'), count(*)
FROM events WHERE type IN ('OrderSubmitted', 'OrderRejected', 'OrderFilled') GROUP BY 1, 2"""
_BREAKERS = """
SELECT DISTINCT ON (payload->'state'->>'account_id') payload->'state'->>'account_id',
       (payload->'state'->>'halted')::boolean
FROM events WHERE type = 'BreakerUpdated' ORDER BY payload->'state'->>'account_id', id DESC"""
_EQUITY = """
SELECT DISTINCT ON (payload->>'account_id') payload->>'account_id', (payload->>'equity')::float8
FROM events WHERE type = 'AccountValued' ORDER BY payload->>'account_id', id DESC"""
_MARKET = """
SELECT type, payload->>'provider', count(*)
FROM events WHERE type IN ('MarketProviderFailed', 'MarketDataRejected') GROUP BY 1, 2"""
_CLAMPS = """
SELECT adjustment->>'rule', count(*)
FROM events, jsonb_array_elements(payload->'verdict'->'adjustments') AS adjustment
WHERE type = 'RiskChecked' GROUP BY 1"""


# (query, its number of columns), in the order `snapshot` reads them.
_QUERIES = (
    (_RUN_ENDS, 5),
    (_LAST_SUCCESS, 2),
    (_RUN_COUNTS, 3),
    (_STAGES, 2),
    (_STAGE_FAILURES, 2),
    (_CALLS, 7),
    (_BY_ACCOUNT, 3),
    (_BREAKERS, 2),
    (_EQUITY, 2),
    (_MARKET, 3),
    (_CLAMPS, 2),
)


def _as_json_rows(query: str, width: int) -> str:
    columns = [f"c{n}" for n in range(width)]
    row = ", ".join(f"q.{c}" for c in columns)
    return f"(SELECT coalesce(json_agg(json_build_array({row})), '[]') FROM ({query}) AS q({', '.join(columns)}))"


# Every query in one statement, each one's rows as a JSON array: one round trip instead of fourteen (a
# transaction's BEGIN, SET and COMMIT and a query each), which on a busy machine was most of the time as
# each one waits for the server's process to be scheduled; and one statement reads one snapshot, so a run
# ending meanwhile shows in every metric or in none without a repeatable-read transaction.
_SNAPSHOT = "SELECT " + ",\n".join(_as_json_rows(query, width) for query, width in _QUERIES)


def snapshot(conn: psycopg.Connection) -> list[Family]:
    """Every metric family, read from the event store on `conn` now (one statement, so one snapshot).

    Raises psycopg.errors.UndefinedTable when the database has no events table (never migrated)."""

    def gauge(name: str, doc: str, labels: list[str]) -> Family:
        return Family(f"llmtrade_{name}", "gauge", doc, tuple(labels))

    def counter(name: str, doc: str, labels: list[str]) -> Family:
        return Family(f"llmtrade_{name}", "counter", doc, tuple(labels))

    found = conn.execute(_SNAPSHOT).fetchone()
    assert found is not None  # a SELECT without FROM gives one row
    ends, successes, run_counts, stages, stage_failures, calls, by_account, breakers, equity, market, clamps = found

    success = gauge("last_success_timestamp_seconds", "Unix time of the job's last finished run.", ["job"])
    for job, at in successes:
        success.add([job], float(at))
    last_at = gauge("last_run_timestamp_seconds", "Unix time the job's last run ended (finished or failed).", ["job"])
    status = gauge("last_run_status", "1 for the status of the job's last run, 0 for the others.", ["job", "status"])
    duration = gauge("last_run_duration_seconds", "How long the job's last run took.", ["job"])
    for job, kind, degraded, at, ms in ends:
        now = "failed" if kind == "RunFailed" else "degraded" if degraded else "ok"
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
    for account, value in equity:
        equity_usd.add([account], value)

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
        model_calls,
        tokens,
        cost,
        hits,
        *families.values(),
        halted,
        equity_usd,
        fallbacks,
        rejections,
        clamp,
    ]


def registry(conn: psycopg.Connection) -> list[Family]:
    """The snapshot the file and the push both say (an alias of `snapshot`, the name callers know)."""
    return snapshot(conn)


def text(conn: psycopg.Connection) -> str:
    """The metrics in the Prometheus text exposition format (version 0.0.4)."""
    return render(snapshot(conn))


def write(found: list[Family], folder: Path) -> Path:
    """Write `folder`/llmtrade.prom atomically (a temporary file renamed over it, as node_exporter's textfile
    collector needs); returns its path. Raises OSError when the folder cannot be written."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAME
    write_textfile(found, path)
    return path


def push(found: list[Family], url: str) -> None:
    """PUT the metrics to the Pushgateway at `url` under job "llmtrade" (replacing what it held for the job).

    Raises OSError (urllib's URLError, HTTPError) when it does not answer or refuses."""
    from prometheus_client import push_to_gateway

    push_to_gateway(url, job=PUSH_JOB, registry=to_collector(found), timeout=10)
