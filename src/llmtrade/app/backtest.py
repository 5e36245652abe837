"""`llmtrade backtest`: replay weeks of history exactly as cron would run them, in one process.

One BacktestContainer (app/backtest_container.py: the backtest's own database on one held connection,
paper brokers, offline market) and a stepping clock. For every week of the range, each job the schedule
(workflows/schedule.py `week_jobs`) names -- the weekly run, every checkpoint, the postmortem -- runs
through the same job functions cron's `run-due` calls, with the clock set to the job's instant. Prices are
prefetched once into the bar cache; reads stay point-in-time as in live.

The `backtest` stream of the backtest's database records its inputs (BacktestStarted), each finished week
(BacktestWeekDone) and the end (BacktestFinished). A rerun of the same name with other inputs is refused;
with the same inputs it resumes after the last finished week, skipping the jobs already done inside an
unfinished one (orders carry deterministic ids and stages are written once, so nothing is sent twice).

Run ids are issued deterministically (domain/runs.py `CountedRunIds`) and every event is stamped with the
stepped clock, so the same backtest run twice gives the same events and the same result, wall time aside.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack, suppress
from pathlib import Path

from llmtrade.analytics.draws import drawn_apart, import_ahead, start_worker
from llmtrade.app.backtest_answers import shared_answers
from llmtrade.app.backtest_audit import not_audited_now, sample
from llmtrade.app.backtest_audits import Audits, left_inside
from llmtrade.app.backtest_bridged import refuse_bridged
from llmtrade.app.backtest_config import record_config
from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.app.backtest_delisting import settle_due as settle_delisted
from llmtrade.app.backtest_history import history_for
from llmtrade.app.backtest_inputs import (
    HISTORY,
    Inputs,
    Progress,
    draw_ahead,
    follow_books,
    range_weeks,
    stale_rows,
    standings,
)
from llmtrade.app.backtest_paths import draws_worker_from, paths_planned
from llmtrade.app.backtest_prices import prefetch, refuse_outside, span
from llmtrade.app.backtest_process import plain_sigint, weekly_heap
from llmtrade.app.backtest_resume import check_resume, ran_nothing
from llmtrade.app.backtest_spec import BacktestSpec
from llmtrade.app.backtest_start import StartUp
from llmtrade.app.backtest_steps import Tally, discovery_started, step
from llmtrade.app.backtest_stops import Whereabouts, settling_step, stops_recorded
from llmtrade.app.backtest_threads import one_thread_at_a_time
from llmtrade.app.due_jobs import done_keys
from llmtrade.app.evaluation_results import BacktestResult, BacktestTiming
from llmtrade.app.memory_queries import rebuild_if_ahead
from llmtrade.clock import SteppingClock
from llmtrade.config.loader import LoadedConfig
from llmtrade.domain import streams
from llmtrade.domain.backtests import BacktestFinished, BacktestWeekDone, finish_missing
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import CountedRunIds, RunStarted, issued_by
from llmtrade.errors import UsageError
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.market.csv_quotes import gaps_notice
from llmtrade.market.providers import provider_names
from llmtrade.settings import Settings
from llmtrade.stops import stop_if_terminated
from llmtrade.storage.database import backtest_database, record_name
from llmtrade.workflows.schedule import JobKind, week_jobs

_HISTORY = HISTORY  # the first weekly run's, prefetched with the rest (backtest_inputs.py)


def backtest(
    settings: Settings,
    loaded: LoadedConfig,
    config_dir: Path | None,
    spec: BacktestSpec,
    *,
    say: Callable[[str], None],
    warn: Callable[[str], None] | None = None,
    progress: Callable[[Progress], None] | None = None,
    draws_apart: bool = False,
    start: StartUp | None = None,
) -> BacktestResult:
    """Run (or resume) the backtest `spec.name`; raises UsageError (exit 2) for a bad range, a missing
    mode or inputs that differ from the stored backtest's, OperationalError (exit 1) when the look-ahead
    audit finds a difference, and whatever a job raises (a replay miss names the call).

    `draws_apart`: the leaderboard's bootstrap draws are made by a spawned process that imports arch on
    another core while the weeks run (analytics/draws.py; the same draws, ~1.2 CPU seconds off this process):
    the command's choice; off, arch is imported here on a daemon thread. `warn`: where what needs a look goes (the
    prices' jumps and late listings, a discovery that failed); unset, `say`. `start`: the command's, which said where
    its start was until now (loading the config), for a stop before the first week (app/backtest_start.py)."""
    started = time.perf_counter()
    # The collector settled from the start (app/backtest_process.py): entered after the providers were built, a full
    # collection walked the whole heap of imports there (some 34 ms, the largest single piece of a short run's start).
    start = start or StartUp(spec.name)
    start.now("starting")
    with start.noted(), weekly_heap() as heap:
        return _backtest(settings, loaded, config_dir, spec, say, warn, progress, draws_apart, started, heap, start)


def _backtest(
    settings: Settings,
    loaded: LoadedConfig,
    config_dir: Path | None,
    spec: BacktestSpec,
    say: Callable[[str], None],
    warn: Callable[[str], None] | None,
    progress: Callable[[Progress], None] | None,
    draws_apart: bool,
    started: float,
    heap: Callable[[], None],
    start: StartUp,
) -> BacktestResult:
    if not (spec.offline or spec.replay):
        raise UsageError(
            "a backtest needs --offline (rules provider) or --replay (cached answers); live models are "
            "called only for --replay's misses, with --live-misses USD"
        )
    calendar = TradingCalendar()
    weeks = range_weeks(spec.first, spec.last, calendar, _HISTORY)
    start.first = weeks[0]
    schedule = loaded.config.schedule
    plan = {w: week_jobs(schedule, calendar, w) for w in weeks}
    if not any(plan.values()):
        raise UsageError(f"no scheduled job between {spec.first} and {spec.last}")
    first_job = next(jobs[0] for jobs in plan.values() if jobs)
    folder = spec.csv
    if spec.fetch_history:
        start.now("fetching its price history from the providers (--fetch-history)")
        every = [job for week in plan.values() for job in week]
        folder = history_for(settings, loaded, name=spec.name, csv=spec.csv, jobs=every, calendar=calendar, say=say)
    # The backtest reads the CSV folder given (or fetched), else the config's; a live provider list never applies.
    settings = settings.model_copy(update={"market_providers": None})
    if folder is not None:  # named by its option in a message about it
        named_by = "--fetch-history's snapshot" if spec.fetch_history else spec.csv_named_by
        settings = settings.with_csv_dir(folder, named_by)
    clock = SteppingClock(first_job.at)
    start.now("reading its price files")
    app = BacktestContainer(
        settings,
        loaded,
        clock,
        config_dir,
        say,
        offline=spec.offline,
        replay=spec.replay,
        live_misses_usd=spec.live_misses_usd,
        database=backtest_database(spec.name),
        warn=warn,
    )
    last_session = span([j for js in plan.values() for j in js], calendar)[1]  # the last the range's jobs read
    # A range the prices do not cover at all: a bad argument, refused before the backtest's database is made.
    # Or, on the synthetic market, one reading a session not closed yet.
    refuse_outside(app, (spec.first, spec.last), weeks[0], last_session, plan=plan)
    inputs = Inputs.of(app, spec.name, weeks[0], weeks[-1])
    audited = sample(weeks, spec.audit)
    if spec.audit > len(weeks):  # not capped without a word (a trial's --audit 50 over 2 weeks)
        # Sampled: a week run before this invocation is not audited now (backtest_audit.py `not_audited_now` says so).
        app.say(f"--audit {spec.audit}: the range has {len(weeks)} week(s); every one is sampled")
    names = provider_names(loaded.config.assets, app.settings, live=app.live)
    spent: Counter[str] = Counter()
    tally = Tally(Audits(audited, cut_checkpoints=bool(audited) and app.quotes_cut(names), spent=spent), spent=spent)
    seed, give_back = spec.replay and spec.answers_from_live, spec.live_misses_usd is not None
    start.now(f"opening its database {app.database} (the first time: creating it)")
    with (
        drawn_apart(draws_apart, deferred=True),  # started a few weeks in (backtest_paths.py `draws_worker_from`)
        one_thread_at_a_time(),
        plain_sigint(),
        app.held() as storage,
        stops_recorded() as stopping,
        shared_answers(settings, storage, seed=seed, give_back=give_back, say=say),
        ExitStack() as later,
    ):
        events = storage.events
        start.now("comparing its inputs with its books")
        resume = check_resume(app, storage, inputs, until=last_session)
        finished = resume.finished
        if finished and max(finished) > weeks[-1]:
            # Its books run past --to and cannot be cut: a result for the shorter range would show all of them.
            raise UsageError(
                f"backtest {spec.name!r} already ran to week {max(finished)}, after --to {spec.last}: its books "
                f"cannot be cut short; give --to {max(finished)} or later, or a new --name for the shorter range"
            )
        follow_books(events)  # the leaderboard's reads, then kept current by the weeks: read from memory at the end
        if rebuild_if_ahead(app, storage):
            say(
                "memory: it held rows for events a stopped run never wrote (killed between the two writes); "
                "rebuilt from the events on record, so the weeks redone remember as an unstopped run would"
            )
        todo = [w for w in weeks if w not in finished]
        refuse_bridged(storage, spec.name, todo)  # books priced by an earlier version's rule are not gone on with
        where = Whereabouts(spec.name, todo, weeks_done=len(finished), weeks=len(weeks), written=events.written_behind)
        where.live_misses = give_back  # a call whose cached answers are invalid is asked anew: the stop says so
        later.enter_context(where.noted())  # a stop from here on says where the weeks were (backtest_stops.py)
        start.handed_over()
        where.doing("recording its start")  # each step of the start said, as a stop there says where it was
        tally.audits.doing = where.doing  # and in which step of a job's turn (a cut-off rerun, the discovery)
        unbound = False
        if todo:
            clock.set(max(clock.now(), next((plan[w][0].at for w in todo if plan[w]), clock.now())))
            last_done = max(finished) if finished else None
            quoting = sorted({new_york_date(j.at) for w in todo for j in plan[w] if calendar.is_open(j.at)})
            if gaps := gaps_notice(inputs.intraday, quoting):  # once, before the first week (csv_quotes.py)
                say(gaps)
            if inputs.intraday and (stale := stale_rows(app, inputs, [j.at for w in todo for j in plan[w]])):
                say(stale)
            unbound = ran_nothing(storage)  # before this start: did any earlier one run a job?
            begun = inputs.started(resumed_after=last_done, replaced_after=resume.replaced_after)
            events.append([NewEvent.of(begun, stream=streams.BACKTEST)])
            record_name(storage.conn, backtest_database(inputs.name), inputs.name)  # as listed (books_named.py)
            record_config(events, app.loaded.config)  # what its books are read with, --config or not (backtest_config)
            stopping.append(events)  # a failure from here on is recorded (BacktestStopped)
            # On disk before any bar reaches the cache: cached bars then always have a start that names their inputs
            # (check_resume compares a start that ran a job with the cache, and replaces one that ran none).
            events.flush()
        try:
            if todo:
                since, through = span([job for w in todo for job in plan[w]], app.calendar)
                # The days a price error names (`for 2022-08-31..2024-04-02`) begin well before --from: said why.
                where.doing(
                    f"reading its prices into the bar cache, {since} to {through} (from {_HISTORY.days} days before "
                    "its first week: the history a weekly run's market snapshot reads)"
                )
                prefetch(app, storage, plan, todo)
            where.doing("fetching the discovery candidates' prices")
            discovery = discovery_started(app, storage, plan, todo, tally)
            where.doing("starting its helper process (the checkpoints' intraday paths)")
            later.enter_context(paths_planned(app, plan, todo))  # the checkpoints' intraday paths, on another core
            where.doing("preparing the leaderboard's draws")
            if todo:
                if not draws_apart:
                    import_ahead()  # the leaderboard's bootstrap, imported while the weeks wait (else the worker's)
                # Its draws too, made by the draws worker meanwhile, for the books' expected range: the whole plan's.
                scheduled = [job.at for jobs in plan.values() for job in jobs]
                draw_ahead(app, min(scheduled), max(scheduled))
        except Exception:
            # Failed before any job ran, in whichever part of the start (a file missing or a bad row at the prefetch,
            # a database error in discovery's fetch of its candidates): what it cached (the other symbols' bars: a
            # batch missing one costs only that one; the candidates') goes, so the command mended starts afresh. A
            # stop (Ctrl-C, SIGTERM) is no failure: the same command resumes on what it cached.
            if unbound:
                with suppress(Exception):  # the failure is what is said (a connection lost fails this too)
                    app.bar_cache(storage).forget_all()
            raise
        done = done_keys(events)
        ran = {w for w in audited if w in finished or any(j.key in done for j in plan[w] if j.kind is JobKind.WEEKLY)}
        stream = events.read_stream(streams.BACKTEST)
        inside = {w: left_inside(plan[w], done, events) for w in ran - finished}  # resumed inside: what is left
        ran -= tally.audits.going_on(spec.audit, inside, stream)
        for going in tally.audits.said:
            app.warning(going)
        if unaudited := not_audited_now(spec.audit, ran, stream, cut_checkpoints=tally.audits.cut_checkpoints):
            app.warning(unaudited)
        if audited - ran and not tally.audits.cut_checkpoints:  # said only when a week is audited now
            app.say(
                "--audit: the weekly runs and postmortems are audited, not the checkpoints: these quotes cannot be cut "
                "at an instant (the synthetic market's intraday path is drawn through each session's own bar)"
            )
        taken = {e.run_id for e in events.read(type=RunStarted.event_type()) if e.run_id}
        report = progress or (lambda _: None)
        weeks_now, draws_after = 0, draws_worker_from(len(todo))
        if draws_after == 0:
            where.doing("starting the leaderboard's draws worker")
            start_worker()
        where.doing(None)
        report(Progress(weeks_done=len(finished), weeks=len(weeks), calls=0, week_id=None))
        with issued_by(CountedRunIds("backtest", taken)):
            for week_id in todo:
                for job in plan[week_id]:
                    where.at(job)
                    stop_if_terminated()  # a SIGTERM that landed where it could not be raised: said here
                    if job.key in done:
                        continue
                    where.doing(settling_step(job))
                    settle_delisted(app, clock, job.at)  # a last session closed before this job: paid out
                    where.doing(None)
                    clock.set(job.at)
                    if discovery is not None and job.kind is JobKind.WEEKLY:
                        tally.audits.discover(app, discovery, job.week_id)  # as run-due does live (issue 15), audited
                        where.doing(None)
                    step(app, job, tally=tally)
                where.week_ran(week_id)
                tally.audits.week_done(app, week_id)
                if discovery is not None:
                    tally.audits.matured(app, discovery, week_id)  # the forward returns the week matured, audited
                week_done = BacktestWeekDone(week_id=week_id, jobs=len(plan[week_id]))
                events.append([NewEvent.of(week_done, stream=streams.BACKTEST, week_id=week_id)])
                where.week_done()
                # The week reaches the database whole, its BacktestWeekDone last: a resume starts after it. Its COPY
                # and commit run behind, on the writer's own connection, while the next week computes; the next
                # week's flush (or any read that must ask PostgreSQL, or the way out) waits for it first.
                events.flush_behind()
                where.handed()  # the weeks before this one are committed (the flush waited for theirs first)
                # A closed week's streams are read no more: their copies leave memory (else ~2 MB a week, kept).
                events.drop_idle_copies()
                heap()  # the week's survivors frozen
                finished.add(week_id)
                done_now = Progress(len(finished), len(weeks), tally.calls, week_id, rules_answers=tally.rules)
                report(done_now)
                weeks_now += 1
                if weeks_now == draws_after:
                    start_worker()
        if discovery is not None:
            discovery.finish()
        # A rerun of one stopped after its last week records the finish it lacks, running no week (finish_missing).
        if todo or finish_missing(events.read_stream(streams.BACKTEST)):
            events.append([NewEvent.of(BacktestFinished(name=spec.name, weeks=len(weeks)), stream=streams.BACKTEST)])
            events.flush()
        where.finished()
        # The memory's graph built (storage/bulk_load.py) while the leaderboard, reading the books from memory, is made.
        with app.indexing_books():
            # Valued at the range's last scheduled instant, however much of it this invocation ran.
            clock.set(max(clock.now(), max(job.at for jobs in plan.values() for job in jobs)))
            board = standings(app, spec.name)
    seconds = time.perf_counter() - started
    return BacktestResult(
        name=spec.name,
        database=app.database or "",
        start=weeks[0],
        end=weeks[-1],
        mode=app.mode.value,
        prices=inputs.data,
        weeks=len(weeks),
        weeks_done_before=len(weeks) - len(todo),
        weeks_run=len(todo),
        jobs=dict(sorted(tally.ran.items())),
        llm_calls=tally.calls,
        rules_answers=tally.rules,
        degraded_runs=tally.degraded,
        leaderboard=board,
        audit=tally.audits.weeks,
        timing=BacktestTiming(
            seconds=round(seconds, 3),
            seconds_per_week=round(seconds / len(todo), 3) if todo else None,
            by_kind={k: round(v, 3) for k, v in sorted(tally.spent.items())},
        ),
    )
