"""`discover` (run every picker now) and `watchlist show|add|remove`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from llmtrade.app.container import Container
from llmtrade.app.discovery_memory import similar_conditions
from llmtrade.app.discovery_results import DiscoverResult, PerformanceResult, PickerTop, WatchlistResult
from llmtrade.app.forward_returns_said import say_failed, say_filled
from llmtrade.app.leaderboard import books
from llmtrade.app.picker_cutoff import after_cutoff, cutoff_note, picker_answered, read_sessions
from llmtrade.app.results import Usage
from llmtrade.app.runs import execute, start_run
from llmtrade.config.candidates import CandidateInstrument, packaged_candidates
from llmtrade.discovery import outcomes
from llmtrade.discovery.candidates import alpaca_candidates, trading_client
from llmtrade.discovery.performance import evaluate, refit_weights, unmeasured_picks
from llmtrade.discovery.run import Discovery, FeatureReader
from llmtrade.discovery.run import discover as run_discovery
from llmtrade.discovery.watchlist import Watchlist, current
from llmtrade.domain.discovery import HORIZONS, DiscoveryFailed, WatchlistEdited
from llmtrade.domain.events import NewEvent
from llmtrade.domain.market import MarketDataFetched
from llmtrade.domain.runs import new_run_id
from llmtrade.domain.streams import BACKTEST, DISCOVERY, DISCOVERY_FAILED, UNIVERSE, WATCHLIST_EDITS, week_stream
from llmtrade.domain.weeks import week_id_for
from llmtrade.domain.wording import market_time
from llmtrade.errors import BarNotComplete, LlmtradeError, TemporaryError, UsageError
from llmtrade.exits import one_line, temporary
from llmtrade.llm.gateway import CallSite
from llmtrade.market.calendar import NEW_YORK
from llmtrade.market.csv_folder import unusable
from llmtrade.market.daily_bars import DailyBars
from llmtrade.market.failures import own_words
from llmtrade.market.held_prices import not_final
from llmtrade.market.providers import csv_dir, provider_names
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.job_deadlines import retry_deadline
from llmtrade.workflows.schedule import JobKind, next_fires

TOP = 10
# The most run-due's daily forward returns wait out a provider's rate limit, from when they begin: bookkeeping any later
# wake-up does, so never worth holding this one into the next (cron wakes every 5 minutes).
FORWARD_RETURNS_WAIT = timedelta(minutes=2)


def current_watchlist(storage: Storage) -> Watchlist:
    return current(storage.events)


def _candidates(app: Container) -> tuple[list[CandidateInstrument], str]:
    """Offline: the packaged list. Live with Alpaca data keys: the packaged list narrowed by Alpaca's assets API."""
    packaged = list(packaged_candidates())
    if not app.live:
        return priceable(app, packaged), "packaged"
    data = app.loaded.config.assets.market_data
    key, secret = app.settings.secret(data.alpaca.key_env), app.settings.secret(data.alpaca.secret_env)
    if not (key and secret):
        return packaged, "packaged (no Alpaca keys for the assets API)"
    client = trading_client(
        key, secret, url_override=app.settings.alpaca_url, timeout_seconds=data.request_timeout_seconds
    )
    return alpaca_candidates(client, packaged), "alpaca"


def priceable(app: Container, candidates: Sequence[CandidateInstrument]) -> list[CandidateInstrument]:
    """The candidates an offline market can price: all on the synthetic market, those with a file when a
    CSV folder is the only provider (the folder refuses a whole request for one missing file)."""
    assets = app.loaded.config.assets
    folder = csv_dir(assets, app.settings)
    if folder is None or provider_names(assets, app.settings, live=False) != ["csv"]:
        return list(candidates)
    return [c for c in candidates if unusable(folder / f"{c.symbol}.csv") is None]


def discover(app: Container, *, week_id: date | None = None) -> DiscoverResult:
    """Score every candidate with every picker as of now, record it, and set the watchlist; `week_id`: the week whose
    weekly run it comes before (run-due's), whose costs its model calls count in, and whose deadline (workflows/
    job_deadlines.py) bounds its market reads' rate-limit waits, as the weekly run's own reads are: each
    read waited up to 90 s whatever the deadline, the run-due wake-up holding the weekly run behind it. By hand (no
    week), a read waits its 90 s at most."""
    deadline = None
    if week_id is not None:
        deadline = retry_deadline(app.loaded.config.schedule, app.calendar, JobKind.WEEKLY, week_id)
    with app.storage(models=True) as storage:
        app.announce()  # before Alpaca's assets API is asked, as every command says its mode first
        candidates, source = _candidates(app)
        run_id, found, _ = record_discovery(app, storage, candidates, week_id=week_id, deadline=deadline)
        fetched = storage.events.read(run_id=run_id, type=MarketDataFetched.event_type())
        synthetic = any(storage.events.payload(MarketDataFetched, e).synthetic for e in fetched)
        for symbol, why in found.unread.items():  # judged without them: said, as their file or feed is to mend
            app.warning(f"discovery left out {symbol}: its prices could not be read ({own_words(LlmtradeError(why))})")
        # The earlier runs' outcomes that have matured by now, with the prices already at hand; prices
        # missing for that span leave them to run-due's daily job rather than failing a finished run.
        try:
            outcomes.fill(storage.events, app.market(storage, record=False, deadline=deadline), found.session)
        except LlmtradeError as exc:
            app.warning(f"discovery forward returns not filled ({exc}); run-due fills them later")
    return DiscoverResult(
        run_id=run_id,
        asof=found.asof,
        session=found.session,
        source=source,
        candidates=len(found.candidates),
        skipped=found.skipped,
        pickers=[PickerTop(picker=name, top=rows[:TOP]) for name, rows in found.scores.items()],
        watchlist=found.watchlist,
        disagreements=found.disagreements,
        dropped=found.dropped,
        llm_model=found.llm_model,
        llm_cost_usd=found.llm_cost_usd,
        llm_rules=found.llm_rules,
        market_view=found.market_view,
        synthetic=synthetic,
    )


def record_discovery(
    app: Container,
    storage: Storage,
    candidates: Sequence[CandidateInstrument],
    *,
    bars: DailyBars | None = None,
    current: Watchlist | None = None,
    features_of: FeatureReader | None = None,
    week_id: date | None = None,
    deadline: datetime | None = None,
) -> tuple[str, Discovery, Usage]:
    """One discovery run over `candidates` as of the clock's now, as a `discover` run (RunStarted ..
    RunFinished) with its SuggestionsMade and WatchlistSet events; the run id, what it found and what its calls
    cost (a backtest counts them with its jobs'). Prices
    from `bars` when given (a backtest's held bars), else the app's market for the run; `current`: the
    watchlist as `current_watchlist(storage)` folds it now, when the caller has just folded it; `features_of`:
    the candidates' features as `discovery.run.candidate_features` reads them from `bars` (a backtest's, held);
    `week_id`: the week whose weekly run it comes before, on its model calls' records (the report's cost per week
    counts them there: a backtest's 26 picker answers were in its summary's count and in no week of its report);
    `deadline`: the job's, past which the market's reads wait out no rate limit (Container.market).

    Raises what the run raises (MarketDataError when no candidate has the history to judge; a model's
    failure), the run recorded as failed."""
    config = app.loaded.config
    session = app.session(storage)
    now = app.clock.now()
    run_id = new_run_id(now)
    market = app.market(storage, run_id=run_id, deadline=deadline)
    current = current if current is not None else current_watchlist(storage)
    run = start_run(
        session, run_id=run_id, command="discover", arguments={"offline": app.offline, "replay": app.replay}
    )
    # Its end recorded whatever stops it (a Ctrl-C between its answer and its SuggestionsMade too): its prices may meet
    # the outage the candidates' would (exit 75), the run on file as failed either way.
    with run.ends_recorded():
        remembered = similar_conditions(app, storage, bars or market, now=now, run_id=run_id)
        found = execute(
            run_discovery(
                bars or market,
                candidates,
                config.assets.discovery,
                gateway=session.gateway,
                prompts=session.prompts,
                ref=config.models.research[0],
                asof=now,
                site=CallSite(role="picker", run_id=run_id, week_id=week_id),
                current=current,
                similar_conditions=remembered,
                features_of=features_of,
            ),
            session,
            run,
        )
        storage.events.append(found.events(run_id))
        run.finished(session.gateway.totals, degraded=False)
    return run_id, found, Usage.of(session.gateway.totals)


def _view(app: Container, storage: Storage, watchlist: Watchlist) -> WatchlistResult:
    latest = watchlist.latest
    mode = app.loaded.config.assets.discovery.universe_mode
    week = week_id_for(app.clock.now().astimezone(NEW_YORK).date())
    fixed = mode != "static" and bool(storage.events.read_stream(week_stream(week, UNIVERSE)))
    return WatchlistResult(
        asof=latest.asof if latest else None,
        entries=watchlist.effective(app.loaded.config.assets.discovery.watchlist_size),
        include=list(watchlist.include),
        exclude=watchlist.exclude,
        disagreements=latest.disagreements if latest else [],
        universe_mode=mode,
        fixed_week=week if fixed else None,
    )


def watchlist_show(app: Container) -> WatchlistResult:
    """The last discovery run's watchlist and the manual edits in force."""
    with app.storage() as storage:
        return _view(app, storage, current_watchlist(storage))


def watchlist_edit(app: Container, symbol: str, action: str) -> WatchlistResult:
    """Include (`add`) or exclude (`remove`) a candidate from the next watchlists; recorded as an event.

    Raises UsageError for a symbol that is neither a candidate nor in the universe (its asset class,
    which the risk gate sizes by, would be unknown)."""
    symbol = symbol.upper()
    known = {c.symbol: c.asset_class.value for c in packaged_candidates()}
    known |= {i.symbol: i.asset_class.value for i in app.loaded.config.assets.universe}
    if symbol not in known:
        # Near ones named (GLDD: did you mean GLD?), as an account or event type that names none is.
        raise UsageError.unknown(
            f"{symbol} is not a discovery candidate (config/defaults/candidates.yaml) nor in the universe",
            symbol,
            known,
            otherwise="`llmtrade discover` scores every candidate",
        )
    with app.storage() as storage:
        edit = WatchlistEdited(symbol=symbol, action=action, asset_class=known[symbol])  # type: ignore[arg-type]
        storage.events.append([NewEvent.of(edit, stream=WATCHLIST_EDITS)])
        return _view(app, storage, current_watchlist(storage))


def fill_forward_returns(app: Container) -> int:
    """Record every discovery forward return matured by now (run-due's daily job); how many were recorded.

    Its reads wait out no rate limit past `forward_returns_deadline`, as a job's reads stop at the job's deadline: a
    provider still throttling then is a wait (TemporaryError, the wake-up's exit 75, on record as the provider's
    failure), and the next wake-up records what is left. The newest session's closes not final yet at any provider
    (its first minutes after the close): what matured before it is recorded, the rest by a later wake-up, unsaid
    under --quiet. A failure of another kind is left to the next run-due, said once while it lasts, and its end once
    (app/forward_returns_said.py)."""
    now = app.clock.now()
    with app.storage() as storage:
        last = app.calendar.last_completed_session(now)
        if last is None or current_watchlist(storage).latest is None:
            return 0  # discovery never ran here: nothing to measure, and no market to build
        market = app.market(storage, deadline=forward_returns_deadline(app, now))
        try:
            try:
                recorded = len(outcomes.fill(storage.events, market, last))
            except BarNotComplete as exc:
                app.say(f"discovery forward returns to {exc.session} wait: {not_final(exc)}")
                recorded = len(outcomes.fill(storage.events, market, app.calendar.previous_session(exc.session)))
        except LlmtradeError as exc:
            if temporary(exc):
                said = f"discovery forward returns not filled: {exc}; the next run-due fills them"
                raise TemporaryError(said) from exc
            say_failed(app, storage.events, str(exc))  # once while it lasts, not at every wake-up
            return 0
        return say_filled(app, storage.events, recorded)


def forward_returns_deadline(app: Container, now: datetime) -> datetime:
    """Until when run-due's forward returns, begun at `now`, wait out a provider's rate limit: FORWARD_RETURNS_WAIT on,
    and never past the next scheduled job's time (a wake-up still reading then would hold back that job's, under a
    cron line with `flock -n` skip it)."""
    upcoming = next_fires(app.loaded.config.schedule, app.calendar, now, count=1)
    return min([now + FORWARD_RETURNS_WAIT, *(job.at for job in upcoming)])


def discover_before_weekly(app: Container, week_id: date) -> DiscoverResult | None:
    """run-due's discovery before a weekly run, once a week: when the watchlist feeds the committee (universe
    mode watchlist or both), or in static mode once `discover` has run here (the pickers are being measured).
    None when the week's universe is already fixed or a run already judged the last complete session. A
    failure is said and the weekly run goes on with the last watchlist: discovery never stops the week."""
    static = app.loaded.config.assets.discovery.universe_mode == "static"
    with app.storage() as storage:
        fixed = storage.events.stream_version(week_stream(week_id, UNIVERSE)) > 0
        last = app.calendar.last_completed_session(app.clock.now())
        latest = current_watchlist(storage).latest
        failed = storage.events.read_stream(week_stream(week_id, DISCOVERY_FAILED))
    if fixed or (latest is None and static) or (latest is not None and latest.session == last):
        return None
    before = DiscoveryFailed.from_event(failed[-1]) if failed else None
    if before is not None and before.session == last and not before.temporary:
        # The same candidates judged as of the same session fail the same way: run at every wake-up of the weekly run's
        # retry window, it recorded a failed run, read every candidate's bars (and asked the LLM picker) and warned
        # again each time, for nothing. Said once; a new session, or `discover` by hand once mended, runs it again.
        app.say(
            f"discovery before the weekly run of {week_id} not run again: it failed at "
            f"{market_time(failed[-1].occurred_at)} as of {last} for a reason waiting will not mend ({before.error}); "
            "the last watchlist stands (`llmtrade discover` runs it by hand)"
        )
        return None
    try:
        return discover(app, week_id=week_id)
    except LlmtradeError as exc:
        _failed(app, week_id, last, exc, before)
        return None


def _failed(app: Container, week_id: date, session: date, exc: LlmtradeError, before: DiscoveryFailed | None) -> None:
    """Record discovery's failure before week `week_id`'s run (DiscoveryFailed) and say it: warned when new, said
    (not under -q) when a temporary one repeats what the wake-up before met; the weekly run goes on either way."""
    wait = temporary(exc)
    error = one_line(str(exc))
    with app.storage() as storage:
        stream = week_stream(week_id, DISCOVERY_FAILED)
        payload = DiscoveryFailed(week_id=week_id, session=session, error=error, temporary=wait)
        storage.events.append([NewEvent.of(payload, stream=stream, week_id=week_id)])
    then = "the next wake-up tries again" if wait else "not run again as of this session: it would fail the same way"
    said = f"discovery before the weekly run of {week_id} failed ({exc}); the last watchlist stands; {then}"
    if before is not None and before.temporary and wait and before.error == error:
        app.say(said)
    else:
        app.warning(said)


def made_on_synthetic(events: EventStore) -> bool:
    """Whether a discovery of the books was made on the seeded synthetic market (its run's MarketDataFetched)."""
    runs = {e.run_id for e in events.read(stream=DISCOVERY)}
    fetched = events.read(type=MarketDataFetched.event_type())
    return any(e.run_id in runs and events.payload(MarketDataFetched, e).synthetic for e in fetched)


def performance(app: Container, *, horizon: int, backtest: str | None = None) -> PerformanceResult:
    """Every picker's record at `horizon` sessions, from the forward returns matured by now (a read); with
    `backtest`, from that backtest's own books, as of its last finished week.

    Raises UsageError (exit 2) for a horizon not in HORIZONS, a backtest that does not exist, or one run with another
    config than the one given (app/backtest_config.py `reading_config`: its picks and weights are a config's)."""
    if horizon not in HORIZONS:
        raise UsageError(f"--horizon must be one of {', '.join(map(str, HORIZONS))} sessions, not {horizon}")
    books_app, _ = books(app, backtest)
    # A backtest's books with the config it recorded when none was given (leaderboard.books), not the one loaded.
    settings = books_app.loaded.config.assets.discovery
    with books_app.storage(persist=False) as storage:
        now = app.clock.now() if backtest is None else _backtest_end(storage)
        last = app.calendar.last_completed_session(now) if now else None
        # Only sessions closed by now: a clock set back (LLMTRADE_NOW, a trial) counted a session judged after it.
        judged = {
            day: made
            for day, made in outcomes.judged(storage.events.read(stream=DISCOVERY)).items()
            if last is not None and day <= last
        }
        matured = outcomes.matured(storage.events, last) if last else []
        synthetic = made_on_synthetic(storage.events)
        answered = picker_answered(storage.events)
    at = [m for m in matured if m.horizon == horizon]
    # No model has read the synthetic market, nor did the offline rules provider read anything: no cutoff applies.
    picker = books_app.loaded.config.models.research[0]
    sessions = {m.session for m in at}
    applies = answered and not synthetic
    note = cutoff_note(picker, sessions, list(judged.values())) if applies else None
    # The llm and ensemble figures over the sessions after the cutoff: none when nothing is said of it (note None).
    evidence = after_cutoff(picker, judged, at, horizon=horizon, top=settings.watchlist_size) if note else None
    return PerformanceResult(
        asof_session=last,
        horizon=horizon,
        top=settings.watchlist_size,
        judged_sessions=len(judged),
        matured_sessions=len({m.session for m in at}),
        unmeasured_picks=unmeasured_picks(judged, at, horizon=horizon),
        pickers=evaluate(judged, at, horizon=horizon, top=settings.watchlist_size),
        weights=settings.ensemble_weights,
        refit_weights=refit_weights(judged, at, horizon=horizon, default=settings.ensemble_weights),
        synthetic=synthetic,
        backtest=backtest,
        judged_candidates=max((len(m.suggestions) for made in judged.values() for m in made), default=0),
        knowledge_cutoff=picker.knowledge_cutoff if applies else None,
        read_sessions=read_sessions(picker, sessions) if applies else None,
        cutoff_note=note,
        after_cutoff=evidence[0] if evidence else None,
        after_cutoff_sessions=evidence[1] if evidence else None,
    )


def _backtest_end(storage: Storage) -> datetime | None:
    """The stepped clock's time at the backtest's last recorded step (its events carry the clock's time)."""
    last = storage.events.read(stream=BACKTEST)
    return last[-1].occurred_at if last else None
