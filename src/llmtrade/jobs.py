"""The jobs cron runs: the weekly run, a checkpoint, the postmortem. Each returns its report as data.

The CLI's commands and `run-due` both call these, so a job run by hand and a job run by the
scheduler are the same code. Messages meant for a person (the mode banner, progress) go through
`App.say`, to stderr, so stdout keeps only the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

from llmtrade.app.runs import execute, start_run
from llmtrade.app.session import Session, open_session
from llmtrade.brokers.paper import PaperBroker
from llmtrade.clock import Clock
from llmtrade.config.loader import LoadedConfig
from llmtrade.domain.checkpoints import AccountValued, CheckpointCompleted, PostmortemCompleted
from llmtrade.domain.events import LLMCallCompleted, NewEvent
from llmtrade.domain.ledger import closed_trade_pnls
from llmtrade.domain.runs import RunFailed, RunFinished, RunStarted, WeekCompleted, new_run_id
from llmtrade.domain.streams import checkpoint_stream, week_stream
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import LlmtradeError, OperationalError, UsageError
from llmtrade.llm.gateway import LLMMode
from llmtrade.llm.providers import decide_mode
from llmtrade.market.calendar import NEW_YORK, TradingCalendar, new_york_date
from llmtrade.market.metrics import excess_return, hit_rate, max_drawdown, period_return, total_return
from llmtrade.market.providers import build_providers, provider_names
from llmtrade.market.service import MarketData, Recording
from llmtrade.pipeline.context import PipelineContext
from llmtrade.reports import checkpoint_report, mode_banner, usage_json, weekly_report
from llmtrade.risk.controls import breaker_state, trading_enabled
from llmtrade.risk.controls import reset_breaker as reset_breaker_events
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.projections import project_week_summaries, week_start_valuation
from llmtrade.workflows import research_stages
from llmtrade.workflows.checkpoint import CheckpointRun, require_checkpoint_time
from llmtrade.workflows.postmortem import PostmortemRun, postmortem_stream
from llmtrade.workflows.schedule import Job, JobKind, due_jobs, week_jobs, weekly_key
from llmtrade.workflows.weekly import (
    build_desks,
    completion,
    require_current_week,
    require_same_mode,
    week_lock,
    week_mode,
    weekly_pipeline,
)
from llmtrade.workflows.weeks import resolve_week
from llmtrade.workflows.workbench import Workbench

RESUMABLE = (
    ("market_snapshot", "snapshot"),
    ("research", "research"),
    ("pitches", "pitches"),
    ("peer_review", "reviews"),
    ("chairman", "decision"),
    ("risk_gate", "risk"),
)


@dataclass
class App:
    settings: Settings
    loaded: LoadedConfig
    clock: Clock
    config_dir: Path | None
    say: Callable[[str], None]

    def storage(self) -> Storage:
        return open_storage(self.settings, self.clock)

    def session(self, storage: Storage, *, offline: bool, replay: bool) -> Session:
        session = open_session(
            self.settings, self.loaded, self.clock, storage, config_dir=self.config_dir, offline=offline, replay=replay
        )
        self.say(mode_banner(session.decision))
        return session

    def workbench(self, storage: Storage, session: Session, *, week_id: date, now: datetime) -> Workbench:
        """Prices and accounts for one run of a week's job, in the session's mode."""
        live = session.decision.mode is not LLMMode.OFFLINE
        run_id = new_run_id(now)
        market = self.market(storage, live=live, run_id=run_id, week_id=week_id)
        desks = build_desks(
            self.loaded.config, self.settings, storage.events, self.clock, TradingCalendar(), market, live=live
        )
        return Workbench(
            self.loaded.config, storage.events, session.gateway, session.prompts, market, desks, week_id, now, run_id
        )

    def market(self, storage: Storage, *, live: bool, run_id: str | None, week_id: date | None) -> MarketData:
        assets = self.loaded.config.assets
        providers = build_providers(assets, self.settings, provider_names(assets, self.settings, live=live))
        return MarketData(
            providers, BarCache(storage.conn), TradingCalendar(), Recording(storage.events, run_id, week_id)
        )


def weekly(
    app: App,
    *,
    week: date | None,
    dry_run: bool,
    offline: bool,
    replay: bool,
    observer: Callable[[Callable[[], int]], Callable[[str, str, float | None], None]] | None = None,
) -> dict[str, Any]:
    """The week's committee. Returns the report, or {"status": "complete", ...} for a finished week."""
    now = app.clock.now()
    config = app.loaded.config
    week_id, asof = resolve_week(now, week, config.schedule)
    if not dry_run:
        require_current_week(week_id, now, command="run-weekly")
    mode = decide_mode(config.models, app.settings, offline=offline, replay=replay).mode
    with app.storage() as storage:
        require_same_mode(storage.events, week_id, mode)
        done = completion(storage.events, week_id)
        if done is not None:
            return _complete(week_id, done.payload, done.occurred_at)
        with week_lock(storage.conn, week_id):
            done = completion(storage.events, week_id)  # the run we waited behind may have finished it
            if done is not None:
                return _complete(week_id, done.payload, done.occurred_at)
            previous = previous_week_needs_postmortem(storage, week_id)
            if previous is not None and (week_mode(storage.events, previous) == LLMMode.OFFLINE.value) != (
                mode is LLMMode.OFFLINE
            ):
                app.say(f"week {previous} ran in another mode: its postmortem is left to `llmtrade postmortem`")
                previous = None
            if previous is not None and not dry_run:
                # DESIGN's first stage: last week's postmortem closes it before this week opens.
                app.say(f"postmortem of week {previous} first")
                _postmortem(app, storage, app.session(storage, offline=offline, replay=replay), previous, now)
            session = app.session(storage, offline=offline, replay=replay)
            bench = app.workbench(storage, session, week_id=week_id, now=now)
            run_id = bench.run_id
            stored_before = {e.stream for e in storage.events.read(week_id=week_id)}
            resumed = [name for name, part in RESUMABLE if week_stream(week_id, part) in stored_before]
            pipeline = weekly_pipeline(
                bench,
                app.clock,
                dry_run=dry_run,
                observer=observer(lambda: session.gateway.totals.calls) if observer else None,
            )
            run = start_run(
                session,
                run_id=run_id,
                command="run-weekly",
                arguments={
                    "week": str(week) if week else None,
                    "dry_run": dry_run,
                    "offline": offline,
                    "replay": replay,
                },
                week_id=week_id,
            )
            context = PipelineContext(run_id=run_id, week_id=week_id).with_value(research_stages.ASOF, asof)
            result = execute(pipeline.run(context), session, run)
            degraded = result.get(research_stages.DEGRADED)
            if not dry_run:
                done_stream = week_stream(week_id, "done")
                storage.events.append(
                    [
                        NewEvent.of(
                            WeekCompleted(run_id=run_id, degraded=bool(degraded), notes=degraded),
                            stream=done_stream,
                            week_id=week_id,
                            run_id=run_id,
                        )
                    ],
                    expected_versions={done_stream: 0},
                )
            duration = run.finished(session.gateway.totals, degraded=bool(degraded))
    return weekly_report(
        result,
        run_id=run_id,
        mode=session.decision.mode.value,
        dry_run=dry_run,
        totals=session.gateway.totals,
        duration_ms=duration,
        resumed=resumed,
    )


def _complete(week_id: date, payload: dict, when: datetime) -> dict[str, Any]:
    return {"week_id": str(week_id), "status": "complete", "completed_by": payload, "at": when.isoformat()}


def checkpoint(app: App, time: str, *, week: date | None, dry_run: bool, offline: bool, replay: bool) -> dict[str, Any]:
    """One checkpoint for every account of the week (see pipeline/checkpoint.py)."""
    config = app.loaded.config
    require_checkpoint_time(config, time)
    now = app.clock.now()
    day = new_york_date(now)
    calendar = TradingCalendar()
    if not calendar.is_session(day):
        raise UsageError(f"{day} is not a trading session: no checkpoint today")
    hour, minute = (int(part) for part in time.split(":"))
    scheduled = datetime.combine(day, dt_time(hour, minute), NEW_YORK)
    if now < scheduled:
        raise UsageError(f"the {time} checkpoint is not due yet (it is {now.astimezone(NEW_YORK):%H:%M} in New York)")
    if now >= calendar.session_close(day) and not dry_run:
        raise UsageError(f"the {day} session has closed: its {time} checkpoint can no longer trade")
    week_id, _ = resolve_week(now, week, config.schedule)
    if not dry_run:
        require_current_week(week_id, now, command="checkpoint")
    mode = decide_mode(config.models, app.settings, offline=offline, replay=replay).mode
    with app.storage() as storage:
        require_same_mode(storage.events, week_id, mode)
        if completion(storage.events, week_id) is None and not dry_run:
            # Before the week's own orders are out, a checkpoint would act on last week's positions.
            raise OperationalError(f"week {week_id}'s weekly run has not completed: run `llmtrade run-weekly` first")
        with week_lock(storage.conn, week_id, command="checkpoint"):
            session = app.session(storage, offline=offline, replay=replay)
            bench = app.workbench(storage, session, week_id=week_id, now=now)
            already = bool(storage.events.read_stream(checkpoint_stream(week_id, day, time)))
            run = start_run(
                session,
                run_id=bench.run_id,
                command="checkpoint",
                arguments={"time": time, "week": str(week) if week else None, "dry_run": dry_run},
                week_id=week_id,
            )
            body = CheckpointRun(bench, day=day, time=time, dry_run=dry_run)
            outcomes = execute(body.run(), session, run)
            failed = [o for o in outcomes if o.skipped and o.skipped.startswith("owner failed")]
            duration = run.finished(session.gateway.totals, degraded=bool(failed))
    return checkpoint_report(
        outcomes,
        week_id=week_id,
        day=day,
        time=time,
        run_id=bench.run_id,
        mode=session.decision.mode.value,
        dry_run=dry_run,
        repeated=already,
        totals=session.gateway.totals,
        duration_ms=duration,
    )


def trading_mode_is_live(app: App, events: EventStore, *, offline: bool = False) -> bool:
    """Whether accounts here are traded live: what the latest trading run did, else what keys allow.

    Read-only commands must value accounts the way they were traded; valuing a live week with the
    offline market would settle paper orders at synthetic prices."""
    if offline:
        return False
    latest = [
        e for e in events.read(type=RunStarted.event_type()) if e.payload["command"] in ("run-weekly", "checkpoint")
    ]
    if latest:
        return latest[-1].payload["mode"] != LLMMode.OFFLINE.value
    return decide_mode(app.loaded.config.models, app.settings, offline=False, replay=False).mode is not LLMMode.OFFLINE


def reset_breaker(app: App, account_id: str) -> Any:
    """Resume a halted account by hand; its peak restarts at its current equity."""
    config = app.loaded.config
    account = config.accounts.account(account_id)
    if account is None:
        known = ", ".join(a.id for a in config.accounts.accounts)
        raise UsageError(f"no account {account_id!r} (known: {known})")
    with app.storage() as storage:
        live = trading_mode_is_live(app, storage.events)
        market = app.market(storage, live=live, run_id=None, week_id=None)
        desk = next(
            d
            for d in build_desks(config, app.settings, storage.events, app.clock, TradingCalendar(), market, live=live)
            if d.account.id == account_id
        )
        prices = market.last_closes(config.assets.symbols, app.clock.now())
        equity = desk.broker.account(prices).equity
        return reset_breaker_events(storage.events, account_id, starting_equity=account.starting_cash, equity=equity)


def postmortem(app: App, *, week: date | None, offline: bool, replay: bool) -> dict[str, Any]:
    """The postmortem of `week` (default: the week before the current one)."""
    now = app.clock.now()
    config = app.loaded.config
    week_id = week_id_for(week) if week else week_id_for(new_york_date(now)) - timedelta(days=7)
    with app.storage() as storage:
        if completion(storage.events, week_id) is None:
            raise OperationalError(f"week {week_id} has no completed weekly run: nothing to review")
        scheduled = next(
            j for j in week_jobs(config.schedule, TradingCalendar(), week_id) if j.kind is JobKind.POSTMORTEM
        )
        if now < scheduled.at:
            raise UsageError(f"week {week_id} is not over: its postmortem is due at {scheduled.at.isoformat()}")
        require_same_mode(
            storage.events,
            week_id,
            decide_mode(app.loaded.config.models, app.settings, offline=offline, replay=replay).mode,
        )
        with week_lock(storage.conn, week_id, command="postmortem"):
            session = app.session(storage, offline=offline, replay=replay)
            report = _postmortem(app, storage, session, week_id, now)
    return report


def _postmortem(app: App, storage: Storage, session: Session, week_id: date, now: datetime) -> dict[str, Any]:
    bench = app.workbench(storage, session, week_id=week_id, now=now)
    run_id = bench.run_id
    run = start_run(session, run_id=run_id, command="postmortem", arguments={"week": str(week_id)}, week_id=week_id)
    body = PostmortemRun(bench)
    written, built = execute(body.run(), session, run)
    project_week_summaries(storage.conn, storage.events)
    duration = run.finished(session.gateway.totals, degraded=False)
    return {
        "run_id": run_id,
        "week_id": str(week_id),
        "written_now": built,
        "accounts": [pm.model_dump(mode="json") for pm in written],
        "usage": usage_json(session.gateway.totals),
        "duration_ms": round(duration, 1),
    }


def previous_week_needs_postmortem(storage: Storage, week_id: date) -> date | None:
    previous = week_id - timedelta(days=7)
    if completion(storage.events, previous) is None:
        return None
    if storage.events.read_stream(postmortem_stream(previous)):
        return None
    return previous


def done_keys(events: EventStore) -> set[str]:
    """Keys of the scheduled jobs already done, as pipeline.schedule names them."""
    keys: set[str] = set()
    for event in events.read(
        type=[WeekCompleted.event_type(), CheckpointCompleted.event_type(), PostmortemCompleted.event_type()]
    ):
        if event.type == WeekCompleted.event_type() and event.week_id:
            keys.add(weekly_key(event.week_id))
        elif event.type == CheckpointCompleted.event_type():
            done = CheckpointCompleted.from_event(event)
            keys.add(f"checkpoint:{done.day}T{done.time}")
        elif event.type == PostmortemCompleted.event_type():
            keys.add(f"postmortem:{PostmortemCompleted.from_event(event).week_id}")
    return keys


def due(app: App) -> list[Job]:
    """The scheduled jobs due now and not done; a postmortem only for a week that was actually run."""
    with app.storage() as storage:
        done = done_keys(storage.events)
        now = app.clock.now()
        current = week_id_for(new_york_date(now))
        jobs = due_jobs(app.loaded.config.schedule, TradingCalendar(), now, done)
        return [
            job
            for job in jobs
            # Only this week trades; a postmortem only reviews a week that was run.
            if (job.kind is JobKind.POSTMORTEM and completion(storage.events, job.week_id) is not None)
            or (job.kind is not JobKind.POSTMORTEM and job.week_id == current)
        ]


def run_due(app: App, *, offline: bool = False) -> list[dict[str, Any]]:
    """Run whatever is due and not yet done, in order; nothing else."""
    results: list[dict[str, Any]] = []
    for job in due(app):
        app.say(f"due: {job.kind.value} {job.key} (scheduled {job.at.isoformat()})")
        if job.kind is JobKind.POSTMORTEM:
            report = postmortem(app, week=job.week_id, offline=offline, replay=False)
        elif job.kind is JobKind.WEEKLY:
            report = weekly(app, week=job.week_id, dry_run=False, offline=offline, replay=False)
        else:
            report = checkpoint(app, job.time, week=job.week_id, dry_run=False, offline=offline, replay=False)
        results.append({"job": job.key, "kind": job.kind.value, "report": report})
    return results


def status(app: App, *, offline: bool = False) -> dict[str, Any]:
    """Every account's standing, the controls, the last runs, and what the models cost."""
    now = app.clock.now()
    config = app.loaded.config
    week_id = week_id_for(new_york_date(now))
    with app.storage() as storage:
        events = storage.events
        live = trading_mode_is_live(app, events, offline=offline)
        market = app.market(storage, live=live, run_id=None, week_id=None)
        desks = build_desks(config, app.settings, events, app.clock, TradingCalendar(), market, live=live)
        valuations = [AccountValued.from_event(e) for e in events.read(type=AccountValued.event_type())]
        first = events.read(type=AccountValued.event_type(), limit=1)
        try:
            prices = market.last_closes(config.assets.symbols, now)
            spy_start = market.last_closes(["SPY"], first[0].occurred_at).get("SPY") if first else None
        except LlmtradeError as exc:
            app.say(f"prices unavailable ({exc}); positions are valued at cost")
            prices, spy_start = {}, None
        spy_return = period_return(spy_start, prices["SPY"]) if spy_start and "SPY" in prices else None
        accounts = [_standing(events, desk, prices, valuations, week_id, config) for desk in desks]
        flat = next((a for a in accounts if a["role"] == "flat"), None)
        for row in accounts:
            row["vs_flat"] = excess_return(row["total_return"], flat["total_return"]) if flat else None
            row["vs_spy"] = excess_return(row["total_return"], spy_return) if spy_return is not None else None
        enabled, why = trading_enabled(events)
        runs = _last_runs(events)
        # Every model call, whether its run finished, failed or was killed: all of them cost money.
        calls = events.read(type=LLMCallCompleted.event_type())
    return {
        "asof": now.isoformat(),
        "week_id": str(week_id),
        "trading_enabled": enabled,
        "kill_switch_reason": why,
        "spy_return_since_start": spy_return,
        "accounts": accounts,
        "last_runs": runs,
        "usage": {
            "this_week": _usage([e for e in calls if e.week_id == week_id]),
            "to_date": _usage(calls),
        },
    }


def _standing(
    events: EventStore, desk: Any, prices: dict[str, float], valuations: list[AccountValued], week_id: date, config: Any
) -> dict[str, Any]:
    account = desk.broker.account(prices)
    start_cash = desk.account.starting_cash
    mine = [v for v in valuations if v.account_id == desk.account.id]
    started = week_start_valuation(events, week_id, desk.account.id)
    week_start = started.equity if started else None
    fills = desk.broker.fills() if isinstance(desk.broker, PaperBroker) else []
    breaker, _ = breaker_state(events, desk.account.id, start_cash)
    return {
        "account_id": desk.account.id,
        "name": desk.account.name,
        "role": desk.account.role.value,
        "broker": desk.broker.name,
        "equity": account.equity,
        "cash": account.cash,
        "week_pnl": None if week_start is None else round(account.equity - week_start, 2),
        "total_return": total_return(start_cash, account.equity),
        "max_drawdown": max_drawdown([start_cash, *(v.equity for v in mine), account.equity]),
        "hit_rate": hit_rate(closed_trade_pnls(fills)),
        "positions": [p.model_dump() for p in account.positions.values()],
        "halted": breaker.halted,
        "breaker_reason": breaker.reason,
    }


def _last_runs(events: EventStore) -> dict[str, dict[str, Any]]:
    started = {e.run_id: e for e in events.read(type=RunStarted.event_type())}
    ended = {e.run_id: e for e in events.read(type=[RunFinished.event_type(), RunFailed.event_type()])}
    last: dict[str, dict[str, Any]] = {}
    for run_id, event in started.items():
        end = ended.get(run_id)
        last[event.payload["command"]] = {
            "run_id": run_id,
            "at": event.occurred_at.isoformat(),
            "mode": event.payload["mode"],
            "outcome": "running or killed" if end is None else ("failed" if end.type == "RunFailed" else "finished"),
            "degraded": bool(end and end.payload.get("degraded")),
            "error": end.payload.get("error") if end is not None and end.type == "RunFailed" else None,
        }
    return last


def _usage(calls: list[Any]) -> dict[str, Any]:
    return {
        "calls": len(calls),
        "prompt_tokens": sum(e.payload["prompt_tokens"] for e in calls),
        "completion_tokens": sum(e.payload["completion_tokens"] for e in calls),
        "cost_usd": round(sum(e.payload["cost_usd"] or 0.0 for e in calls), 6),
    }
