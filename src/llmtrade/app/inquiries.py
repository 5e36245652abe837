"""Commands that ask rather than trade: the general council, the week's research, market data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from llmtrade.app.container import Container
from llmtrade.app.inquiry_results import CouncilResult, ResearchPacks, ResearchResult, SnapshotResult
from llmtrade.app.known_weeks import require_known_week
from llmtrade.app.outcomes import council_result
from llmtrade.app.runs import execute, start_run
from llmtrade.app.week_mode import in_week_mode
from llmtrade.config.models import Config
from llmtrade.council.general import GeneralCouncil
from llmtrade.discovery.universe import held_outside, universe_now
from llmtrade.domain.council import CouncilConvened
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import new_run_id
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import BarNotComplete, UsageError
from llmtrade.market.calendar import NEW_YORK
from llmtrade.market.held_prices import close_before, not_final
from llmtrade.market.service import BarSeries
from llmtrade.market.snapshot import week_snapshot
from llmtrade.pipeline.context import PipelineContext
from llmtrade.pipeline.pipeline import Pipeline
from llmtrade.pipeline.retry import Window
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows import council_stages, research_stages
from llmtrade.workflows.job_deadlines import retry_deadline
from llmtrade.workflows.schedule import JobKind
from llmtrade.workflows.weekly import require_begun, require_same_mode
from llmtrade.workflows.weeks import resolve_week


def council(app: Container, query: str) -> CouncilResult:
    """Ask every council model, have them rank each other anonymously, and let the chairman answer."""
    if not query.strip():
        raise UsageError("the query is empty")
    models = app.loaded.config.models
    members = models.council.models or list(models.pms)
    chairman = models.council.chairman or models.chairman
    with app.storage(models=True) as storage:
        session = app.session(storage)
        run_id = new_run_id(app.clock.now())
        run = start_run(
            session,
            run_id=run_id,
            command="council",
            arguments={"query": query, "offline": app.offline, "replay": app.replay},
        )
        with run.ends_recorded():
            body = GeneralCouncil(session.gateway, session.prompts, members, chairman, run_id)
            storage.events.append(
                [
                    NewEvent.of(
                        CouncilConvened(query=query, members=[m.model for m in members], chairman=chairman.model),
                        stream=council_stages.council_stream(run_id),
                        run_id=run_id,
                    )
                ]
            )
            pipeline = Pipeline(council_stages.council_stages(body, storage.events), storage.events)
            context = PipelineContext(run_id=run_id).with_value(council_stages.QUERY, query)
            result = execute(pipeline.run(context), session, run)
            duration = run.finished(session.gateway.totals, degraded=bool(result.get(council_stages.FAILURES)))
    return council_result(
        result,
        run_id=run_id,
        mode=app.mode.value,
        query=query,
        chairman=chairman.model,
        totals=session.gateway.totals,
        duration_ms=duration,
    )


def research(app: Container, *, week: date | None) -> ResearchResult:
    """Build (or load, when already built) the week's market snapshot and research packs."""
    now = app.clock.now()
    config = app.loaded.config
    week_id, asof = resolve_week(now, week, config.schedule)
    # Built now, a later week's research would be frozen with today's prices, and its weekly run would trade on it.
    require_begun(
        week_id, now, what="its research is built for its own weekly run, from the prices before it, and then frozen"
    )
    if week is not None:
        require_known_week(week, app.calendar)
    app = in_week_mode(app, week_id)
    with app.storage(models=True) as storage:
        session = app.session(storage)
        require_same_mode(storage.events, week_id, app.mode, app.decision.reason)
        already = research_stages.stored_packs(storage.events, week_id) is not None
        run_id = new_run_id(now)
        market = app.market(storage, run_id=run_id, week_id=week_id)
        pipeline = Pipeline(
            [
                research_stages.MarketSnapshotStage(market, config.assets.symbols, storage.events),
                research_stages.ResearchStage(
                    session.gateway,
                    session.prompts,
                    config.models.research,
                    config.assets.universe,
                    storage.events,
                    # The week's research is the weekly run's: the same retry deadline.
                    Window(retry_deadline(config.schedule, app.calendar, JobKind.WEEKLY, week_id), now, app.clock),
                ),
            ],
            storage.events,
        )
        run = start_run(
            session,
            run_id=run_id,
            command="research",
            arguments={"week": str(week) if week else None, "offline": app.offline, "replay": app.replay},
            week_id=week_id,
        )
        with run.ends_recorded():
            context = PipelineContext(run_id=run_id, week_id=week_id).with_value(research_stages.ASOF, asof)
            result = execute(pipeline.run(context), session, run)
            degraded = result.get(research_stages.DEGRADED)
            run.finished(session.gateway.totals, degraded=bool(degraded))
    return ResearchResult(
        week_id=week_id,
        already_done=already,
        packs=ResearchPacks(result.get(research_stages.RESEARCH_PACKS)),
        degraded=degraded,
    )


@dataclass(frozen=True)
class BarsView:
    """The last bars of one symbol, with where they came from (printed as JSON Lines or a table)."""

    symbol: str
    asof: datetime
    series: BarSeries
    days: int

    @property
    def bars(self) -> list:
        return self.series.bars[self.symbol][-self.days :]


def market_bars(app: Container, symbol: str, days: int) -> BarsView:
    """The last daily bars of `symbol` complete as of now, in the invocation's mode: a symbol of this week's universe
    (in watchlist modes the week's, as the committee sees it) or one an account holds outside it. In the minutes after
    a close before its bar is final at a provider, to the session before, said."""
    symbol = symbol.upper()
    with app.storage() as storage:
        config = _universe_now(app, storage)
        held = held_outside(config, storage.events)
        if config.assets.instrument(symbol) is None and symbol not in held:
            known = ", ".join([*config.assets.symbols, *held])
            raise UsageError(f"{symbol} is not in this week's universe nor held ({known})")
        app.announce()
        market = app.market(storage)
        now = app.clock.now()
        end = market.calendar.last_completed_session(now)
        if end is None:
            raise UsageError(f"no completed session before {now.isoformat()}")
        span = timedelta(days=int(days * 1.5) + 10)
        try:
            series = market.bars([symbol], end - span, end)
        except BarNotComplete as exc:  # its first minutes after the close: to the session before, as `status` values
            end = market.calendar.previous_session(exc.session)
            app.warning(f"bars to the close of {end}: {not_final(exc)}")
            series = market.bars([symbol], end - span, end)
    return BarsView(symbol, now, series, days)


def market_snapshot(app: Container) -> SnapshotResult:
    """Indicators for this week's universe as of now (in watchlist modes the week's, fixed or not yet): what the
    committee would see. In the minutes after a close before its bar is final at a provider, as of the session
    before's close, said."""
    app.announce()
    with app.storage() as storage:
        market = app.market(storage)
        symbols = _universe_now(app, storage).assets.symbols
        try:
            snapshot = week_snapshot(market, symbols, app.clock.now())
        except BarNotComplete as exc:
            before = close_before(market, exc)
            app.warning(f"snapshot at the close of {market.calendar.previous_session(exc.session)}: {not_final(exc)}")
            snapshot = week_snapshot(market, symbols, before)
        # As the weekly run would take it: without a symbol whose prices ended (one CSV file no longer written failed
        # the whole command), said.
        for note in research_stages.left_out_notes(snapshot):
            app.warning(note)
        return SnapshotResult(snapshot)


def _universe_now(app: Container, storage: Storage) -> Config:
    week = week_id_for(app.clock.now().astimezone(NEW_YORK).date())
    return universe_now(app.loaded.config, storage.events, week)
