"""The jobs cron runs: the weekly run, a checkpoint, the postmortem. Each returns its report as data.

The CLI's commands and `run-due` both call these, so a job run by hand and a job run by the
scheduler are the same code. Messages meant for a person (the mode banner, progress) go through
`App.say`, to stderr, so stdout keeps only the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from llmtrade.clock import Clock
from llmtrade.config.loader import LoadedConfig
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import WeekCompleted, new_run_id
from llmtrade.errors import OperationalError, UsageError
from llmtrade.llm.gateway import LLMMode
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.market.providers import build_providers, provider_names
from llmtrade.market.service import MarketData, Recording
from llmtrade.pipeline import research_stages
from llmtrade.pipeline.checkpoint import CheckpointRun, checkpoint_stream, require_checkpoint_time
from llmtrade.pipeline.context import PipelineContext
from llmtrade.pipeline.controls import reset_breaker as reset_breaker_events
from llmtrade.pipeline.frozen import week_stream
from llmtrade.pipeline.runs import execute, start_run
from llmtrade.pipeline.session import Session, open_session
from llmtrade.pipeline.weekly import build_desks, completion, week_lock, weekly_pipeline
from llmtrade.pipeline.weeks import resolve_week
from llmtrade.reports import checkpoint_report, mode_banner, weekly_report
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage, open_storage

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
    with app.storage() as storage:
        done = completion(storage.events, week_id)
        if done is not None:
            return _complete(week_id, done.payload, done.occurred_at)
        with week_lock(storage.conn, week_id):
            done = completion(storage.events, week_id)  # the run we waited behind may have finished it
            if done is not None:
                return _complete(week_id, done.payload, done.occurred_at)
            session = app.session(storage, offline=offline, replay=replay)
            live = session.decision.mode is not LLMMode.OFFLINE
            run_id = new_run_id(now)
            market = app.market(storage, live=live, run_id=run_id, week_id=week_id)
            desks = build_desks(config, app.settings, storage.events, app.clock, TradingCalendar(), market, live=live)
            stored_before = {e.stream for e in storage.events.read(week_id=week_id)}
            resumed = [name for name, part in RESUMABLE if week_stream(week_id, part) in stored_before]
            pipeline = weekly_pipeline(
                session,
                market,
                desks,
                week_id,
                run_id,
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
    try:
        require_checkpoint_time(config, time)
    except OperationalError as exc:
        raise UsageError(str(exc)) from None
    now = app.clock.now()
    day = new_york_date(now)
    calendar = TradingCalendar()
    if not calendar.is_session(day):
        raise UsageError(f"{day} is not a trading session: no checkpoint today")
    week_id, _ = resolve_week(now, week, config.schedule)
    with app.storage() as storage:
        if completion(storage.events, week_id) is None and not storage.events.read_stream(week_stream(week_id, "risk")):
            raise OperationalError(f"week {week_id} has no weekly run yet: run `llmtrade run-weekly` first")
        with week_lock(storage.conn, week_id, command="checkpoint"):
            session = app.session(storage, offline=offline, replay=replay)
            live = session.decision.mode is not LLMMode.OFFLINE
            run_id = new_run_id(now)
            market = app.market(storage, live=live, run_id=run_id, week_id=week_id)
            desks = build_desks(config, app.settings, storage.events, app.clock, calendar, market, live=live)
            already = bool(storage.events.read_stream(checkpoint_stream(week_id, day, time)))
            run = start_run(
                session,
                run_id=run_id,
                command="checkpoint",
                arguments={"time": time, "week": str(week) if week else None, "dry_run": dry_run},
                week_id=week_id,
            )
            body = CheckpointRun(
                config=config,
                events=storage.events,
                gateway=session.gateway,
                prompts=session.prompts,
                market=market,
                desks=desks,
                week_id=week_id,
                day=day,
                time=time,
                now=now,
                run_id=run_id,
                dry_run=dry_run,
            )
            outcomes = execute(body.run(), session, run)
            failed = [o for o in outcomes if o.skipped and o.skipped.startswith("owner failed")]
            duration = run.finished(session.gateway.totals, degraded=bool(failed))
    return checkpoint_report(
        outcomes,
        week_id=week_id,
        day=day,
        time=time,
        run_id=run_id,
        mode=session.decision.mode.value,
        dry_run=dry_run,
        repeated=already,
        totals=session.gateway.totals,
        duration_ms=duration,
    )


def reset_breaker(app: App, account_id: str) -> Any:
    """Resume a halted account by hand; its peak restarts at its current equity."""
    config = app.loaded.config
    account = config.accounts.account(account_id)
    if account is None:
        known = ", ".join(a.id for a in config.accounts.accounts)
        raise UsageError(f"no account {account_id!r} (known: {known})")
    with app.storage() as storage:
        market = app.market(storage, live=False, run_id=None, week_id=None)
        desk = next(
            d
            for d in build_desks(config, app.settings, storage.events, app.clock, TradingCalendar(), market, live=False)
            if d.account.id == account_id
        )
        prices = market.last_closes(config.assets.symbols, app.clock.now())
        equity = desk.broker.account(prices).equity
        return reset_breaker_events(storage.events, account_id, starting_equity=account.starting_cash, equity=equity)
