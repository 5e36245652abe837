"""A run as a timeline, from the database alone: `llmtrade trace RUN_ID`.

Every event of the run (the events table's run_id) in the order it was stored: the run's start and end,
each stage with its duration, each model call with its latency, tokens and cost (the call records), the
orders and fills, and every failure. The offline rules provider's answers are no model's: they are listed (kind
`rules_answer`) and counted apart (`rules_answers`), as a run's footer, `status` and the report count them. A model
call (or rules answer) belongs to the stage that was running when it was
recorded (stages run one after another within a run, so the events between a StageStarted and its end
are that stage's). Other events (market data fetched, research stored...) are counted by type.
A backtest's run has no stage spans: its database keeps a stage's failure, not its start and end
(storage/event_store.py `stage_timings`), so its calls belong to no stage.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from llmtrade.domain.call_costs import cost_unknown, spent_usd
from llmtrade.domain.events import StoredEvent, rules_answer
from llmtrade.domain.runs import RunKilled
from llmtrade.domain.tracing import trace_id_of
from llmtrade.domain.waits import stopped_to_wait
from llmtrade.errors import UsageError, near_names
from llmtrade.storage.event_store import EventStore

# wait / stopped to wait / waited: a run that stopped to wait (exit 75 after its StageDeferred: a price, an owner's or a
# role's provider), asked again until its deadline; no failure (trace said "failed" and counted the wait as failures).
EntryKind = Literal["run", "stage", "model_call", "rules_answer", "order", "fill", "failure", "wait"]
RunStatus = Literal["ok", "degraded", "failed", "stopped to wait", "killed", "unfinished"]  # killed: app/killed_runs.py
StageOutcome = Literal["completed", "loaded", "failed", "waited", "unfinished"]

_FAILURES = frozenset(
    {
        "InputsMissing",
        "EmbeddingCallFailed",
        "MarketProviderFailed",
        "MarketDataRejected",
        "OrderBlocked",
        "PlanAbandoned",
        "AccountHalted",
        "PitchFailed",
        "ReviewFailed",
        "ResearchProviderFailed",
        "CouncilMemberFailed",
        "ReconciliationDifferenceFound",
    }
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TraceEntry(_Frozen):
    """One line of the timeline. `offset_ms` is from the run's first event; the model fields only on calls."""

    event_id: int
    at: datetime
    offset_ms: float
    kind: EntryKind
    name: str  # the event type, or the stage's name for a stage
    stage: str | None
    account: str | None
    duration_ms: float | None = None  # a stage's or the run's duration; a call's latency
    detail: str = ""
    model: str | None = None
    provider: str | None = None
    source: str | None = None  # live | rules | cache
    error_type: str | None = None  # a failed call's
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None


class StageSpan(_Frozen):
    name: str
    outcome: StageOutcome
    started_at: datetime
    duration_ms: float | None
    model_calls: int
    cost_usd: float
    rules_answers: int = 0  # the offline rules provider's answers: no model's, $0


class RunTrace(_Frozen):
    """`llmtrade trace RUN_ID --json`: the run, its W3C trace id, its stages and its timeline."""

    run_id: str
    trace_id: str
    command: str | None  # None when the run's RunStarted is missing (events of an older llmtrade)
    mode: str | None
    status: RunStatus
    started_at: datetime
    duration_ms: float | None
    model_calls: int  # a model's answers (live or replayed) and failed calls
    rules_answers: int  # the offline rules provider's answers: no model's, $0
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    orders: int
    fills: int
    unknown_cost_calls: int = 0  # calls whose reply's cost is not known (no usage, no price): not in cost_usd
    failures: int
    stages: list[StageSpan]
    entries: list[TraceEntry]
    other_events: dict[str, int]  # type -> count, of the run's events not on the timeline
    # A run with no end of its own (killed, or unfinished): when it was last known alive and by which event (a killed
    # run's RunKilled says; an unfinished run's last event), as its duration is not known. None for a run that ended.
    last_alive_at: datetime | None = None
    last_event_type: str | None = None


def trace_run(events: EventStore, run_id: str, *, backtest: str | None = None) -> RunTrace:
    """The run's timeline, from the live books or (`backtest`: its name) a backtest's. Raises UsageError (exit 2) for
    a run id with no events, saying how to list the runs of those books (a trial's hint for a backtest's books left
    out --backtest, and listed the live runs)."""
    found = events.read(run_id=run_id)
    if not found:
        near = _near_runs(events, run_id)
        if backtest is not None:
            raise UsageError(
                f"no run {run_id!r} in backtest {backtest}'s books{near} (`llmtrade events --backtest {backtest} "
                "--type RunStarted` lists its runs; a live run is in the live books: leave out --backtest)"
            )
        raise UsageError(
            f"no run {run_id!r} on record{near} (`llmtrade events --type RunStarted` lists the runs; a backtest's run "
            "is in its own books: `llmtrade trace RUN_ID --backtest NAME`)"
        )
    return _Builder(run_id, found).build()


def _near_runs(events: EventStore, run_id: str) -> str:
    """ "; did you mean RUN" for the recorded run ids near `run_id` (a character mistyped or lost: a trial's trace of
    a run id copied short was told only how to list the runs, as `events --run` names the near ones), else ""."""
    recorded = {e.run_id for e in events.read(type="RunStarted") if e.run_id}
    near = near_names(run_id, sorted(recorded), cutoff=0.8)
    return f"; did you mean {', '.join(near)}?" if near else ""


class _Builder:
    def __init__(self, run_id: str, found: list[StoredEvent]):
        self.run_id = run_id
        self.found = found
        self.origin = found[0].occurred_at
        self.entries: list[TraceEntry] = []
        self.stages: list[StageSpan] = []
        # Stages started and not ended, in start order: a weekly run overlaps some (risk_prep beside the chairman).
        self.open_stages: dict[str, _Open] = {}
        self.others: Counter[str] = Counter()
        self.command: str | None = None
        self.mode: str | None = None
        self.status: RunStatus = "unfinished"
        self.duration: float | None = None
        self.unknown = 0
        self.spent = 0.0  # what the budget counted for the run's calls (domain.events.spent_usd)
        self.deferred = any(e.type == "StageDeferred" for e in found)

    def build(self) -> RunTrace:
        for event in self.found:
            self._take(event)
        self.stages += [stage.span("unfinished", None) for stage in self.open_stages.values()]
        calls = [e for e in self.entries if e.kind == "model_call"]
        return RunTrace(
            run_id=self.run_id,
            trace_id=trace_id_of(self.run_id),
            command=self.command,
            mode=self.mode,
            status=self.status,
            started_at=self.origin,
            duration_ms=self.duration,
            model_calls=len(calls),
            rules_answers=sum(1 for e in self.entries if e.kind == "rules_answer"),
            prompt_tokens=sum(e.prompt_tokens or 0 for e in calls),
            completion_tokens=sum(e.completion_tokens or 0 for e in calls),
            cost_usd=self.spent,
            unknown_cost_calls=self.unknown,
            orders=sum(1 for e in self.entries if e.kind == "order"),
            fills=sum(1 for e in self.entries if e.kind == "fill"),
            failures=sum(1 for e in self.entries if e.kind == "failure"),
            stages=self.stages,
            entries=self.entries,
            other_events=dict(sorted(self.others.items())),
            **self._last_alive(),
        )

    def _last_alive(self) -> dict[str, object]:
        """When a run with no end of its own was last alive: its RunKilled's last event, else its own last event."""
        if self.status == "killed":
            killed = next(RunKilled.from_event(e) for e in self.found if e.type == RunKilled.event_type())
            return {"last_alive_at": killed.last_event_at, "last_event_type": killed.last_event_type}
        if self.status == "unfinished":
            return {"last_alive_at": self.found[-1].occurred_at, "last_event_type": self.found[-1].type}
        return {}

    def _running(self) -> _Open:
        """The stage an event with no stage of its own is counted in: the latest started of those still open."""
        return next(reversed(self.open_stages.values()))

    def _entry(
        self, event: StoredEvent, kind: EntryKind, name: str | None = None, stage: str | None = None, **fields: object
    ) -> None:
        self.entries.append(
            TraceEntry(
                event_id=event.id,
                at=event.occurred_at,
                offset_ms=(event.occurred_at - self.origin).total_seconds() * 1000,
                kind=kind,
                name=name or event.type,
                stage=stage if stage is not None else self._running().name if self.open_stages else None,
                account=event.account_id,
                **fields,  # type: ignore[arg-type]
            )
        )

    def _take(self, event: StoredEvent) -> None:
        p, kind = event.payload, event.type
        if kind == "RunStarted":
            self.command, self.mode = p.get("command"), p.get("mode")
            self._entry(event, "run", detail=f"{p.get('command')} ({p.get('mode')}: {p.get('mode_reason')})")
        elif stopped_to_wait(kind, p.get("exit_code"), self.deferred):
            self.duration = p.get("duration_ms")
            self.status = "stopped to wait"
            self._entry(event, "wait", duration_ms=self.duration, detail=f"stopped to wait: {p.get('error')}")
        elif kind in ("RunFinished", "RunFailed"):
            self.duration = p.get("duration_ms")
            failed = kind == "RunFailed"
            self.status = "failed" if failed else "degraded" if p.get("degraded") else "ok"
            detail = f"{p.get('error_type')}: {p.get('error')}" if failed else self.status
            self._entry(event, "failure" if failed else "run", duration_ms=self.duration, detail=detail)
        elif kind == "RunKilled":
            self.status = "killed"
            self._entry(event, "failure", detail=RunKilled.from_event(event).note(event.occurred_at))
        elif kind == "StageStarted":
            self.open_stages[p["stage"]] = _Open(p["stage"], event.occurred_at)
        elif kind in ("StageCompleted", "StageFailed"):
            self._end_stage(event)
        elif kind in ("LLMCallCompleted", "LLMCallFailed"):
            self._call(event)
        elif kind == "OrderSubmitted":
            order, result = p["order"], p["result"]
            self._entry(
                event,
                "order",
                detail=f"{order['side']} {order['qty']} {order['symbol']} ({order['intent']})"
                f" via {p['broker']}: {result['status']}",
            )
        elif kind == "OrderRejected":
            order = p["order"]
            self._entry(event, "failure", detail=f"{order['side']} {order['qty']} {order['symbol']}: {p['reason']}")
        elif kind == "OrderFilled":
            fill = p["fill"]
            shares = fill.get("exact") or fill["qty"]  # a fraction by hand: as the broker wrote it
            self._entry(event, "fill", detail=f"{fill['side']} {shares} {fill['symbol']} @ {fill['price']}")
        elif kind == "StageDeferred":
            self._entry(
                event, "wait", detail=f"waits for {', '.join(p.get('waiting') or [])}: " + "; ".join(p["errors"])
            )
        elif kind in _FAILURES:
            detail = p.get("reason") or p.get("error") or ", ".join(p.get("errors") or []) or ""
            self._entry(event, "failure", detail=str(detail))
        else:
            self.others[kind] += 1

    def _end_stage(self, event: StoredEvent) -> None:
        p = event.payload
        failed = event.type == "StageFailed"
        waited = failed and p.get("error_type") == "Waiting"  # errors.Waiting: it stopped to wait, no failure
        outcome: StageOutcome = (
            "waited" if waited else "failed" if failed else "loaded" if p.get("loaded") else "completed"
        )
        # A stage whose start is not on record (a backtest's failed stage) began, as far as is known, when it ended.
        stage = self.open_stages.pop(p["stage"], None) or _Open(p["stage"], event.occurred_at)
        self.stages.append(stage.span(outcome, p.get("duration_ms"), name=p["stage"]))
        detail = f"{p.get('error_type')}: {p.get('error')}" if failed else outcome
        # A stage's own line is its own, whichever other stage is still running beside it.
        kind: EntryKind = "wait" if waited else "failure" if failed else "stage"
        self._entry(event, kind, p["stage"], p["stage"], duration_ms=p.get("duration_ms"), detail=detail)

    def _call(self, event: StoredEvent) -> None:
        p = event.payload
        failed = event.type == "LLMCallFailed"
        cost = p.get("cost_usd")
        rules = not failed and rules_answer(p)
        self.unknown += not rules and cost_unknown(p)
        self.spent += spent_usd(p)
        if self.open_stages:
            self._running().took(rules=rules, cost=spent_usd(p))
        self._entry(
            event,
            "rules_answer" if rules else "model_call",
            duration_ms=p.get("latency_ms"),
            detail=f"{p['role']}: " + (f"{p['error_type']}: {p['error']}" if failed else p.get("outcome", "")),
            model=p.get("model"),
            provider=p.get("provider"),
            source="live" if failed else p.get("source"),
            error_type=p.get("error_type") if failed else None,
            prompt_tokens=p.get("prompt_tokens"),
            completion_tokens=p.get("completion_tokens"),
            cost_usd=cost,
        )


class _Open:
    """The stage running now: what its calls and rules answers add up to so far."""

    def __init__(self, name: str, started: datetime):
        self.name, self.started = name, started
        self.calls = self.rules = 0
        self.cost = 0.0

    def took(self, *, rules: bool, cost: float) -> None:
        if rules:
            self.rules += 1
        else:
            self.calls += 1
            self.cost += cost

    def span(self, outcome: StageOutcome, duration_ms: float | None, *, name: str | None = None) -> StageSpan:
        return StageSpan(
            name=name or self.name,
            outcome=outcome,
            started_at=self.started,
            duration_ms=duration_ms,
            model_calls=self.calls,
            cost_usd=self.cost,
            rules_answers=self.rules,
        )
