"""What ties a log line, an event and a span to one run: the run's W3C trace id and the log context.

The trace id is derived from the run id, not stored: every event already carries its run id, so the
same trace id is on every event of a run, and any layer (or another process reading the database)
gets it back without a lookup. The log context (run, week, account, stage) lives in contextvars, so
concurrent model calls (asyncio tasks) and the per-account threads (`asyncio.to_thread` copies the
context) each keep their own. Lines are written through the standard library's `logging` under the
`llmtrade` logger; `observe/logs.py` decides where they go.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from llmtrade.domain.waits import stopped_to_wait

if TYPE_CHECKING:
    from llmtrade.domain.events import StoredEvent  # only its shape: configuring the log stays free of pydantic

LOGGER = "llmtrade"
P = ParamSpec("P")
R = TypeVar("R")
EVENTS_LOGGER = "llmtrade.events"
_EVENTS = logging.getLogger(EVENTS_LOGGER)
WARNED = "Warned"  # a warning's line: the text said to the person is its `text` (log_warning)
WARNINGS_LOGGER = f"{LOGGER}.warnings"
_WARNING_LOG = logging.getLogger(WARNINGS_LOGGER)
# A process that sets no logging up (a Ray worker, a program using llmtrade as a library) has the caller's own words
# said already: without a handler here the record went to logging's last-resort handler, a bare "Warned" on stderr.
_WARNING_LOG.addHandler(logging.NullHandler())
# Runs of this process that recorded a StageDeferred: their RunFailed with exit 75 stopped to wait (domain/waits.py)
# and is logged as a warning, not an error (an alert on error lines paged for every price a minute late). A run's
# events are all appended by the process running it; a few ids a process.
_DEFERRED_RUNS: set[str] = set()

# One immutable mapping per context: a binding replaces it, so a task or thread that copied the
# context keeps what it copied.
_context: ContextVar[Mapping[str, str]] = ContextVar("llmtrade_log_context", default={})  # noqa: B039

# The runs whose traces this process's commands export (observe/otel.py): those it started, and those of processes
# gone whose end it recorded (a RunKilled, or the RunFailed one left in its home: app/killed_runs.py), which died before
# their own export. list.append is atomic: runs started on several threads all land.
_runs_to_export: list[str] = []

# Payload fields worth a column in a log line (small scalars); the payload itself stays in the database.
_SUMMARY = (
    "stage",
    "duration_ms",
    "loaded",
    "role",
    "model",
    "source",
    "outcome",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "error_type",
    "error",
    "command",
    "mode",
    "degraded",
    "reason",
    "provider",
)
_SCALARS = (str, int, float, bool)
# A run's failure, a run found killed, a configuration no job could run with: error. Every other failure, refusal,
# abandon or miss is a warning, never info (a cron trial found RunKilled, ConfigRejected, AlertFailed, WeekNotRun and
# CheckpointsMissed at info, out of a log shipper's warning filter): tests/test_log_levels.py holds every event type
# named so to it.
_ERRORS = frozenset({"RunFailed", "RunKilled", "ConfigRejected", "LookaheadAuditFailed"})
_WARNINGS = frozenset(
    {
        "AlertCheckFailureSaid",
        "AlertFailed",
        "AlertGivenUp",
        "AlertUrlRejected",
        "BreakerCancelFailed",
        "BudgetRefused",
        "CheckpointSkipped",
        "CheckpointsMissed",
        "ClockBehindRefused",
        "ClockSkewRefused",
        "CommandFailed",
        "CommandRefused",
        "DueJobNotRun",
        "ClosingPutOff",
        "CouncilMemberFailed",
        "OrphanedPositionsSaid",
        "OrderNotShown",
        "OrderOverfilled",
        "ForwardReturnsFailureSaid",
        "DiscoveryFailed",
        "EventQuoteFailureSaid",
        "PitchFailed",
        "QuoteRefused",
        "ResearchProviderFailed",
        "ReviewFailed",
        "SweepRunFailed",
        "WeekNotRun",
        "StageFailed",
        "StageDeferred",
        "InputsMissing",
        "LLMCallFailed",
        "EmbeddingCallFailed",
        "MarketProviderFailed",
        "MarketDataRejected",
        "PriceJumpFlagged",
        "SessionsUntraded",
        "BarsRevised",
        "SplitDetected",
        "OrderRejected",
        "OrderBlocked",
        "AccountHalted",
        "PlanAbandoned",
        "DeleteAbandoned",
        "AccountWeekHeld",
        "ReconciliationDifferenceFound",
    }
)


@lru_cache(maxsize=256)  # a run logs a line per event: one digest per run, not one per line
def trace_id_of(run_id: str) -> str:
    """The run's W3C trace id: 32 lowercase hex digits, the first 128 bits of sha256(run_id).

    Deterministic (the same run id gives the same trace id in every process) and never the all-zero
    id W3C Trace Context forbids."""
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:32]
    return digest if digest.strip("0") else "0" * 31 + "1"


def log_context() -> Mapping[str, str]:
    """The fields bound in this context: run_id, trace_id, week, account, stage (each only where known)."""
    return _context.get()


class bound:
    """Within this block (and tasks and threads started from it) log lines carry these fields too.

    A class rather than a @contextmanager generator: every stage of every job enters one (pipeline/pipeline.py),
    and the generator's machinery cost several times the binding itself."""

    __slots__ = ("_fields", "_token")

    def __init__(
        self,
        *,
        run_id: str | None = None,
        week: date | None = None,
        account: str | None = None,
        stage: str | None = None,
    ):
        self._fields = (run_id, week, account, stage)

    def __enter__(self) -> None:
        run_id, week, account, stage = self._fields
        self._token = _context.set(_merged(_context.get(), run_id=run_id, week=week, account=account, stage=stage))

    def __exit__(self, *exc: object) -> None:
        _context.reset(self._token)


def bind_run(run_id: str, week: date | None) -> Mapping[str, str]:
    """Bind a run for the rest of this context (a run's start and end are separate calls); returns what
    was bound before, for `restore` at the run's end. The run joins `runs_to_export`."""
    _runs_to_export.append(run_id)
    previous = _context.get()
    _context.set(_merged(previous, run_id=run_id, week=week, account=None, stage=None))
    return previous


def ended_here(run_id: str) -> None:
    """This process recorded the end of run `run_id`, whose own process is gone: its trace is exported with this
    command's runs (a killed run's never was: its process died before its export)."""
    _runs_to_export.append(run_id)


def runs_to_export() -> list[str]:
    """The ids of the runs this process bound so far and of those whose end it recorded, in that order of binding or
    recording (a command exports the ones it added)."""
    return list(_runs_to_export)


def restore(previous: Mapping[str, str]) -> None:
    _context.set(previous)


def _merged(
    base: Mapping[str, str], *, run_id: str | None, week: date | None, account: str | None, stage: str | None
) -> Mapping[str, str]:
    fields = dict(base)
    if run_id is not None:
        fields["run_id"] = run_id
        fields["trace_id"] = trace_id_of(run_id)
    if week is not None:
        fields["week"] = week.isoformat()
    if account is not None:
        fields["account"] = account
    if stage is not None:
        fields["stage"] = stage
    return fields


def log_appended(events: Sequence[StoredEvent]) -> list[StoredEvent]:
    """One log line per stored event (its type, ids and a few scalar fields); returns `events` as a list.

    Costs one level check when logging is not configured at INFO (library use, tests). When it is, each
    record is made directly (no caller lookup: the caller is always the event store) and carries this
    context's log fields, read once for the batch; every record but the batch's last is marked `more`, so
    a file handler may leave it in its buffer (observe/logs.py flushes at the batch's end)."""
    stored = list(events)
    if stored and _EVENTS.isEnabledFor(logging.INFO):
        context = _context.get()
        last = len(stored) - 1
        for n, event in enumerate(stored):
            if event.type == "StageDeferred" and event.run_id is not None:
                _DEFERRED_RUNS.add(event.run_id)
            record = _EVENTS.makeRecord(
                EVENTS_LOGGER,
                _event_level(event),
                "",
                0,
                event.type,
                None,
                None,
                extra={"fields": _fields_of(event), "context": context, "more": n < last},
            )
            _EVENTS.handle(record)
    return stored


def _event_level(event: StoredEvent) -> int:
    if stopped_to_wait(event.type, event.payload.get("exit_code"), event.run_id in _DEFERRED_RUNS):
        return logging.WARNING  # a wait, no failure
    return _level(event.type)


def _level(event_type: str) -> int:
    if event_type in _ERRORS:
        return logging.ERROR
    return logging.WARNING if event_type in _WARNINGS else logging.INFO


def _fields_of(event: StoredEvent) -> dict[str, Any]:
    fields: dict[str, Any] = {"event_id": event.id, "stream": event.stream}
    if event.run_id is not None:
        fields["run_id"] = event.run_id
        fields["trace_id"] = trace_id_of(event.run_id)
    if event.week_id is not None:
        fields["week"] = _iso(event.week_id)
    if event.account_id is not None:
        fields["account"] = event.account_id
    payload = event.payload
    for key in _SUMMARY:
        value = payload.get(key)
        if value is not None and isinstance(value, _SCALARS):
            fields[key] = value
    return fields


@lru_cache(maxsize=64)
def _iso(week: date) -> str:
    return week.isoformat()


def for_account(account: str, work: Callable[P, R]) -> Callable[P, R]:
    """`work` with `account` bound in the log context while it runs (an account's thread)."""

    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with bound(account=account):
            return work(*args, **kwargs)

    return run


def log_warning(text: str) -> None:
    """Keep `text`, a warning said to the person on stderr, in the log too (LLMTRADE_HOME/logs/llmtrade.jsonl: level
    warning, msg WARNED, the text as `text`, the run's ids where bound). Cron's stderr often goes nowhere (no MAILTO,
    `2>/dev/null`); the file keeps every event's line, and held nothing of an alert not sent."""
    _WARNING_LOG.warning(WARNED, extra={"fields": {"text": text}})
