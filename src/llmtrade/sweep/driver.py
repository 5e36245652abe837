"""`llmtrade backtest sweep`: every combination of a sweep file's axes as one backtest, on one executor.

Where results are written: each run is a whole backtest whose books go to a database of its own
(`llmtrade_bt_<sweep>-<run hash>`), written by the worker that runs it, on the server the driver's
settings name (DATABASE_URL, else the embedded server, whose address the driver hands to its workers on
this machine). The driver alone writes the sweep's record (`llmtrade_sw_<sweep>`, stream `sweep`): a
SweepRunFinished with the leaderboard the worker returned, or a SweepRunFailed per failed attempt.

Resuming: a run whose id (the hash of its inputs, sweep/spec.py) has a SweepRunFinished is never run again;
a run that was cut off part-way resumes inside its own backtest after its last finished week.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from llmtrade import __version__
from llmtrade.app.sweep_member import sweep_database
from llmtrade.clock import SystemClock
from llmtrade.config.loader import LoadedConfig
from llmtrade.config.models import BENCHMARK
from llmtrade.domain import streams
from llmtrade.domain.events import NewEvent
from llmtrade.domain.sweeps import SweepRunFailed, SweepRunFinished, SweepStarted
from llmtrade.errors import UsageError
from llmtrade.market.csv_files import intraday_files, price_files
from llmtrade.market.csv_folder import ABSENT, USABLE, unusable
from llmtrade.market.providers import csv_dir
from llmtrade.paths import not_a_folder
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.database import DatabaseLocation, locate, record_name, sibling
from llmtrade.storage.llm_cache import AnswerCache
from llmtrade.sweep import spec as sweep_spec
from llmtrade.sweep.board import sweep_leaderboard, trial_accounts, trials_of
from llmtrade.sweep.executors import Executor, open_executor
from llmtrade.sweep.lock import refuse_other_spelling, sweep_lock
from llmtrade.sweep.price_copies import copy_held
from llmtrade.sweep.prices import ReadFingerprint
from llmtrade.sweep.ranges import (
    prices_named_by,
    refuse_synthetic_ranges,
    refuse_uncovered_ranges,
    refuse_unread_prices,
)
from llmtrade.sweep.results import SweepResult, SweepRun
from llmtrade.sweep.spec import RunPlan, SweepFile
from llmtrade.sweep.work import Answer, RunOutcome, RunTask, Shared


@dataclass(frozen=True)
class SweepOptions:
    """How to run a sweep: the executor's name, its workers (0: one per CPU), a Ray address, a CSV folder."""

    executor: str = "serial"
    workers: int = 0
    address: str | None = None
    csv: Path | None = None


@dataclass(frozen=True)
class SweepProgress:
    """After each outcome: runs finished (resumed ones included), running now, finally failed, of `runs`."""

    done: int
    running: int
    failed: int
    runs: int
    eta_seconds: float | None
    last: str | None  # the label of the run that just finished or failed


def prepare(
    settings: Settings, loaded: LoadedConfig, path: Path, csv: Path | None, answers: list[Answer] | None = None
) -> tuple[SweepFile, Shared, list[RunPlan]]:
    """The sweep file read and expanded into runs, and what their workers share (prices read once, here;
    `answers`: the replay cache's rows, for a replay sweep). UsageError (exit 2) for a bad sweep file or
    prices folder, or a range the price files do not cover at all."""
    sweep = sweep_spec.read(path)
    if sweep.mode == "replay" and answers is not None and not answers:
        # Each run made its database, then stopped at its first model call, and the sweep exited 1 once per run.
        raise UsageError(
            f"sweep file {path}: key mode: replay replays the live books' cached answers, and they hold none: every "
            "run would stop at its first model call; run the weeks live once first (llmtrade run-weekly), or use "
            "mode: offline (the rules provider)"
        )
    folder = csv or csv_dir(loaded.config.assets, settings)
    named_by = prices_named_by(settings, loaded, csv)
    prices: dict[str, bytes] | None = None
    written: dict[str, int] = {}  # each file's modification time (ns), set on the workers' copy (sweep/work.py)
    if folder is not None:
        if not folder.is_dir():
            raise UsageError(f"prices folder {folder}: {not_a_folder(folder)}")
        # Regular files only: a folder `old.csv` beside them raised a traceback.
        prices = price_files(folder, written)
        if not prices:
            raise UsageError(f"prices folder {folder}: no SYMBOL.csv file in it")
        # Its intraday files price the checkpoints of `llmtrade backtest` on this folder: a run reads them alike.
        prices |= intraday_files(folder, written)
    # A replay's result depends on the answers cached: a new cache, new runs.
    cached = "" if answers is None else f"|answers:{hashlib.sha256(repr(sorted(answers)).encode()).hexdigest()}"
    # Each run's id hashes what it reads of the CSV prices (sweep/prices.py), not every row of the folder.
    reader = ReadFingerprint(folder, prices, also=cached) if folder is not None and prices is not None else None
    fingerprint = (reader.whole if reader is not None else "synthetic") + cached
    read = reader.of_run if reader is not None else None
    plans = sweep_spec.plan(path, sweep, loaded, prices=fingerprint, csv=prices is not None, read=read)
    if folder is not None and prices is not None:
        refuse_no_files(folder, plans)
    if folder is not None:
        refuse_uncovered_ranges(settings, loaded.source, path, sweep, plans, folder, named_by)
    else:
        refuse_synthetic_ranges(path, sweep, plans)
    shared = Shared(
        settings=settings.model_dump(by_alias=True, exclude_none=True, exclude={"market_csv_dir"}),
        config_dir=None,
        config_source=loaded.source,
        prices=prices,
        prices_hash=copy_name(fingerprint, written),
        prices_written=written or None,
        answers=answers,
        prices_source=str(folder) if folder is not None else None,
        prices_named_by=named_by if folder is not None else None,
    )
    return sweep, shared, plans


def copy_name(fingerprint: str, written: dict[str, int]) -> str:
    """The name of the workers' copy of the prices (`Shared.prices_hash`): their fingerprint and, when any, the files'
    modification times, which a backtest reads the unfinished rows by (market/csv_unfinished.py): the same bytes
    written again after the close are another copy, not one shared with a sweep of them as they were written before
    it. The times are in no run's id: they decide whether a run may read a row, never what it reads."""
    if not written:
        return hashlib.sha256(fingerprint.encode()).hexdigest()
    times = ",".join(f"{name}={ns}" for name, ns in sorted(written.items()))
    return hashlib.sha256(f"{fingerprint}|written:{times}".encode()).hexdigest()


def refuse_no_files(folder: Path, plans: list[RunPlan]) -> None:
    """UsageError (exit 2) for a SYMBOL.csv that is something else (a folder, a link to nothing) of a symbol a run
    reads (its universe's, after its override, and the benchmark), naming what is there and the runs reading it when
    not all do. The workers get the files' bytes, not the folder: they would say "no file for GLD". It read the
    config's universe, not each run's: a sweep whose every run leaves GLD out was refused for its GLD.csv."""
    readers: dict[str, list[str]] = {}
    for plan in plans:
        for symbol in dict.fromkeys([*plan.config.assets.symbols, BENCHMARK]):
            readers.setdefault(symbol, []).append(plan.label)
    broken = []
    for symbol, labels in readers.items():
        if (why := unusable(folder / f"{symbol}.csv")) in (None, ABSENT):
            continue
        which = "" if len(labels) == len(plans) else f" (read by the run{'s' if len(labels) > 1 else ''} "
        broken.append(f"{symbol}.csv {why}" + (f"{which}{'; '.join(labels)})" if which else ""))
    if broken:
        raise UsageError(f"prices folder {folder}: {'; '.join(broken)}: {USABLE}")


def run_sweep(
    settings: Settings,
    loaded: LoadedConfig,
    config_dir: Path | None,
    path: Path,
    options: SweepOptions,
    *,
    progress: Callable[[SweepProgress], None] | None = None,
) -> SweepResult:
    """Run (or resume) the sweep in `path`. Raises UsageError (exit 2) for a bad sweep file, executor or
    option; a failed run does not raise (see `SweepResult.failed`)."""
    started = time.perf_counter()
    # The file is checked before any database is reached (a typo costs no server start); a replay sweep's
    # runs depend on the cached answers, read from the books before the runs are planned.
    replay = sweep_spec.read(path).mode == "replay"
    location = locate(settings) if replay else None
    answers = live_answers(settings, location) if location is not None else None
    sweep, shared, plans = prepare(settings, loaded, path, options.csv, answers)
    if shared.prices_source is not None:
        # What each run's backtest would refuse at its start about its prices (a file missing, a bad row), refused
        # here, before any database or run: `prepare` plans the runs, this asks whether each can start at all.
        folder, named_by = Path(shared.prices_source), shared.prices_named_by or "--csv"
        refuse_unread_prices(settings, loaded.source, path, sweep, plans, folder, named_by)
    location = location or locate(settings)
    # The workers write their runs' books to the same server: hand them its address, not "embedded".
    shared = shared.model_copy(
        update={
            "settings": {**shared.settings, "DATABASE_URL": location.url},
            "config_dir": str(config_dir) if config_dir else None,
        }
    )
    database = sweep_database(sweep.name)
    report = progress or (lambda _p: None)
    with (
        open_storage(settings, SystemClock(), location=sibling(location, database)) as storage,
        sweep_lock(storage.conn, sweep.name),  # before anything is read to plan or recorded: one driver per name
        # The workers' copy of the prices on this machine, removed when the sweep ends, however it ends (after the
        # executor's close: its workers have stopped), unless another sweep of the same prices uses it still.
        copy_held(shared),
    ):
        refuse_other_spelling(storage, path, sweep.name, database)
        plans = as_recorded(plans, storage)
        finished = finished_runs(storage)
        todo = [p for p in plans if p.run_id not in finished]
        executor = open_executor(options.executor, shared, workers=options.workers, address=options.address)
        status = {
            p.run_id: SweepRun(run_id=p.run_id, backtest=p.backtest, label=p.label, status="done_earlier", attempts=0)
            for p in plans
            if p.run_id in finished
        }
        earlier = earlier_results(plans, finished)
        trials = trials_of(plans) + sum(len(run.trial_accounts) for run in earlier)
        try:
            started_event = SweepStarted(
                name=sweep.name,
                runs=len(plans),
                run_ids=[p.run_id for p in plans],
                labels=[p.label for p in plans],
                trials=trials,
                earlier=[run.run_id for run in earlier],
                finished_before=len(plans) - len(todo),
                executor=executor.name,
                workers=executor.workers,
                version=__version__,
            )
            storage.events.append([NewEvent.of(started_event, stream=streams.SWEEP)])
            record_name(storage.conn, database, sweep.name)  # as a list of the sweeps says it (books_named.py)
            status |= _execute(storage, executor, todo, sweep.retries, len(plans), report)
        finally:
            executor.close()
        runs = [status[p.run_id] for p in plans]
        failed = sum(r.status == "failed" for r in runs)
        board = sweep_leaderboard(
            sweep.name,
            [p.run_id for p in plans],
            trials,
            finished_runs(storage),
            failed=failed,
            earlier=[run.run_id for run in earlier],
            labels={p.run_id: p.label for p in plans},
        )
    return SweepResult(
        name=sweep.name,
        database=database,
        executor=executor.name,
        workers=executor.workers,
        runs=runs,
        finished=len(runs) - failed,
        failed=failed,
        leaderboard=board,
        seconds=round(time.perf_counter() - started, 3),
    )


def live_answers(settings: Settings, location: DatabaseLocation) -> list[Answer]:
    """Every answer of the replay cache of the books `settings` name (the live ones), read once by the driver."""
    with open_storage(settings, SystemClock(), location=location) as live:
        entries = AnswerCache(live.conn).entries()
    return [(k, m, a.content, a.prompt_tokens, a.completion_tokens, a.cost_usd) for k, m, a in entries]


def as_recorded(plans: list[RunPlan], storage: Storage) -> list[RunPlan]:
    """`plans`, each under the id its sweep's record knows it by: an earlier build's hash of the same inputs when
    only that one is recorded (begun, failed or finished), so an upgrade that added config fields skips the runs
    finished and resumes the one killed midway, instead of running every one again under a new id."""
    events = storage.events.read_stream(streams.SWEEP)
    known = {e.payload.get("run_id") for e in events if e.type != SweepStarted.event_type()}
    known |= {i for e in events if e.type == SweepStarted.event_type() for i in e.payload.get("run_ids", [])}
    mapped = []
    for plan in plans:
        found = next((i for i in plan.earlier_ids if i in known), None) if plan.run_id not in known else None
        if found is None:
            mapped.append(plan)
        else:
            name = plan.backtest.removesuffix(plan.run_id[:12]) + found[:12]
            mapped.append(plan.model_copy(update={"run_id": found, "backtest": name}))
    return mapped


def earlier_results(plans: list[RunPlan], finished: dict[str, SweepRunFinished]) -> list[SweepRunFinished]:
    """The runs of the sweep's record that an earlier version of the file finished and that are no configuration of it
    now (an axis value removed or changed once their results were seen), one per configuration, in the order they
    finished. Picking the best of the file's rows after dropping the worse is picking among those too, so their
    trial accounts count in the deflated Sharpe's N: a file narrowed to its winners made their DSR rise (trials 20 to
    10). A configuration is what a run tried (`SweepRunFinished.configuration`), not its label: an override whose
    values were edited under the same name is another configuration, which the label alone took for the file's run
    (trials 10 where 15 were tried). A finished run under another id but the same configuration (a new build or new
    prices: the same configuration run again) is not counted twice. A run recorded before configurations were has
    only its label to go by."""
    ids = {p.run_id for p in plans}
    tried = {c for p in plans for c in p.configurations}
    labels = {p.label for p in plans}
    left: dict[str, SweepRunFinished] = {}
    for run in finished.values():
        if run.run_id in ids:
            continue
        if run.configuration is not None:
            if run.configuration not in tried:
                left.setdefault(run.configuration, run)
        elif run.label not in labels:
            left.setdefault(run.label, run)
    return list(left.values())


def finished_runs(storage: Storage) -> dict[str, SweepRunFinished]:
    events = storage.events.read_stream(streams.SWEEP)
    runs = (SweepRunFinished.from_event(e) for e in events if e.type == SweepRunFinished.event_type())
    return {run.run_id: run for run in runs}


def _execute(
    storage: Storage,
    executor: Executor,
    todo: list[RunPlan],
    retries: int,
    total: int,
    report: Callable[[SweepProgress], None],
) -> dict[str, SweepRun]:
    """Every run of `todo`, each failure retried up to `retries` times; every outcome recorded as it comes."""
    by_id = {p.run_id: p for p in todo}
    status: dict[str, SweepRun] = {}
    done_before = total - len(todo)
    done = failed = 0
    spent: list[float] = []
    tasks = [RunTask(plan=p, attempt=1) for p in todo]
    report(SweepProgress(done_before, min(executor.workers, len(tasks)), 0, total, None, None))
    while tasks:
        again: list[RunTask] = []
        queued = len(tasks)
        for outcome in executor.map(tasks):
            queued -= 1
            plan = by_id[outcome.run_id]
            _record(storage, plan, outcome, final=outcome.attempt > retries or outcome.final)
            spent.append(outcome.seconds)
            if outcome.error is None:
                done += 1
                status[plan.run_id] = _status(plan, outcome, "finished")
            elif outcome.attempt <= retries and not outcome.final:
                again.append(RunTask(plan=plan, attempt=outcome.attempt + 1))
            else:
                failed += 1
                status[plan.run_id] = _status(plan, outcome, "failed")
            left = total - done_before - done - failed
            eta = sum(spent) / len(spent) * left / max(1, executor.workers) if left else 0.0
            running = min(executor.workers, queued + len(again))
            report(SweepProgress(done_before + done, running, failed, total, round(eta, 1), plan.label))
        tasks = again
    return status


def _status(plan: RunPlan, outcome: RunOutcome, status: Literal["finished", "failed"]) -> SweepRun:
    return SweepRun(
        run_id=plan.run_id,
        backtest=plan.backtest,
        label=plan.label,
        status=status,
        attempts=outcome.attempt,
        seconds=outcome.seconds,
        error=outcome.error,
        permanent=status == "failed" and outcome.final,
        exit_code=outcome.code if status == "failed" else None,
        resumed_weeks=outcome.resumed_weeks if status == "finished" else 0,
        weeks=outcome.weeks if status == "finished" else None,
    )


def _record(storage: Storage, plan: RunPlan, outcome: RunOutcome, *, final: bool) -> None:
    if outcome.error is None and outcome.leaderboard is not None:
        payload: SweepRunFinished | SweepRunFailed = SweepRunFinished(
            run_id=plan.run_id,
            backtest=plan.backtest,
            label=plan.label,
            axes=plan.axes,
            start=plan.start,
            end=plan.end,
            attempt=outcome.attempt,
            trial_accounts=trial_accounts(plan),
            leaderboard=outcome.leaderboard,
            configuration=plan.configurations[0] if plan.configurations else None,
        )
    else:
        payload = SweepRunFailed(
            run_id=plan.run_id,
            backtest=plan.backtest,
            label=plan.label,
            attempt=outcome.attempt,
            final=final,
            error=outcome.error or "no result",
        )
    storage.events.append([NewEvent.of(payload, stream=streams.SWEEP)])
