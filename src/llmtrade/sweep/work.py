"""The unit of work of a sweep: one whole backtest (a replay is path-dependent, so weeks are never split).

`run` executes one RunTask in whatever process the executor chose and returns a RunOutcome; it never
raises for a failed backtest (the failure is the outcome), so an executor need not carry exceptions across
process or machine boundaries, and one failed run never stops the others.

`Shared` is what every run of the sweep needs and is shipped to each worker once (an initializer, or one
`ray.put`): the settings (where the database is), the config folder and the prices. A worker writes the
prices it was shipped into a folder named by their fingerprint, once per process, so every run on a
machine reads the same path (a backtest records where its prices came from, and a resumed run must find
the same place).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from llmtrade.exits import classify
from llmtrade.settings import Settings
from llmtrade.sweep.spec import RunPlan
from llmtrade.sweep.wording import for_sweep

# A replay cache entry: key, model, content, prompt tokens, completion tokens, cost (storage/llm_cache.py).
Answer = tuple[str, str, str, int, int, float | None]


class Shared(BaseModel):
    """Shipped once per worker. `settings` are the Settings' values by alias (DATABASE_URL, LLMTRADE_HOME...);
    `prices` the CSV files by name (None: the synthetic market), fingerprinted by `prices_hash`; `answers`
    the replay cache (a replay sweep only), put into each run's database before it starts."""

    model_config = ConfigDict(frozen=True)

    settings: dict[str, Any]
    config_dir: str | None
    config_source: str
    prices: dict[str, bytes] | None
    prices_hash: str
    answers: list[Answer] | None = None
    prices_source: str | None = None  # the folder the prices were read from, as the user named it
    # Where that folder was named (--csv, the config's market_data.csv_dir in its file, LLMTRADE_MARKET_CSV_DIR).
    prices_named_by: str | None = None
    # Each file's modification time (ns) in that folder, by name, set on the copy: a backtest leaves out a daily row
    # written before its session closed by the file's time (market/csv_unfinished.py), and a copy written now took
    # it as the session's bar. None: the copy's files keep the time they were written (a Shared made before).
    prices_written: dict[str, int] | None = None


class RunTask(BaseModel):
    """One run to execute: the plan and which attempt this is (1 for the first)."""

    model_config = ConfigDict(frozen=True)

    plan: RunPlan
    attempt: int


class RunOutcome(BaseModel):
    """What a worker hands back: the run's leaderboard (the Leaderboard record as JSON) or its error."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    attempt: int
    leaderboard: dict[str, Any] | None = None
    error: str | None = None
    final: bool = False  # the error is one no retry mends (exit 1 or 2: a bad file, a refused setting)
    # The exit code the error gives a `llmtrade backtest` alone (exits.py `exit_code_of`: 1 for a bug too), so the
    # sweep's own follows its runs' failures (commands/sweep.py); 75 for a worker lost (outcomes.py `lost`).
    code: int | None = None
    seconds: float
    worker: int  # the process id that ran it (for the benchmark and the progress line)
    # Weeks of its backtest an earlier, stopped attempt or invocation had finished: this one resumed after them (0: a
    # fresh start), and `weeks` in its range; the sweep's table says so.
    resumed_weeks: int = 0
    weeks: int | None = None


_lock = threading.Lock()
_folders: dict[str, Path] = {}


def run(task: RunTask, shared: Shared) -> RunOutcome:
    """Run `task`'s backtest (resuming its own database if an earlier attempt got part of the way)."""
    started = time.perf_counter()
    try:
        board, weeks_before, weeks = _backtest(task.plan, shared)
    except Exception as exc:  # any failure of the run is its outcome: recorded, retried, the others go on
        # In the sweep's terms: the backtest's own names options the sweep has not ("end the range with --to W").
        said = f"{type(exc).__name__}: {for_sweep(' '.join(str(exc).split()))}"
        # Where the copy is, not `prices_folder`, which writes it: a copy that could not be written raised again
        # here, out of `run` (on Ray, 'worker lost: RayTaskError' cut before its reason; serial, a traceback).
        copy = copy_path(shared.prices_hash) if shared.prices is not None else None
        if copy is not None and shared.prices_source:  # the user's folder, not this machine's copy of it
            said = said.replace(str(copy), shared.prices_source)
        failure = classify(exc)
        return RunOutcome(
            run_id=task.plan.run_id,
            attempt=task.attempt,
            error=said,
            # A bad file or setting fails every attempt alike (a new user's sweep retried a missing CSV file).
            final=failure is not None and failure.code in (1, 2),
            code=failure.code if failure is not None else 1,
            seconds=round(time.perf_counter() - started, 3),
            worker=os.getpid(),
        )
    return RunOutcome(
        run_id=task.plan.run_id,
        attempt=task.attempt,
        leaderboard=board,
        seconds=round(time.perf_counter() - started, 3),
        worker=os.getpid(),
        resumed_weeks=weeks_before,
        weeks=weeks,
    )


def _backtest(plan: RunPlan, shared: Shared) -> tuple[dict[str, Any], int, int]:
    """The run's leaderboard (JSON), the weeks an earlier invocation of its backtest had done, its range's weeks."""
    from llmtrade.app.backtest import BacktestSpec, backtest
    from llmtrade.config.loader import LoadedConfig

    settings = Settings(**shared.settings)
    spec = BacktestSpec(
        name=plan.backtest,
        first=plan.start,
        last=plan.end,
        offline=plan.mode == "offline",
        replay=plan.mode == "replay",
        csv=prices_folder(shared),
        csv_named_by=shared.prices_named_by or "--csv",  # the sweep's folder, as the user named it
        answers_from_live=False,  # seeded below from the answers shipped with the sweep
    )
    config_dir = Path(shared.config_dir) if shared.config_dir else None
    if shared.answers:
        seed_answers(settings, plan.backtest, shared.answers)
    result = backtest(settings, LoadedConfig(plan.config, shared.config_source), config_dir, spec, say=_quiet)
    return result.leaderboard.model_dump(mode="json"), result.weeks_done_before, result.weeks


def seed_answers(settings: Settings, backtest: str, answers: list[Answer]) -> None:
    """The replay cache's answers put into the run's own database, where its replay reads them (a backtest
    reads the cache of the database it writes)."""
    from llmtrade.clock import SystemClock
    from llmtrade.storage.bootstrap import open_storage
    from llmtrade.storage.database import backtest_database, locate, sibling
    from llmtrade.storage.llm_cache import AnswerCache, CachedAnswer

    location = sibling(locate(settings), backtest_database(backtest))
    with open_storage(settings, SystemClock(), location=location) as storage:
        AnswerCache(storage.conn).put_many([(k, m, CachedAnswer(c, p, t, u)) for k, m, c, p, t, u in answers])


def _quiet(_text: str) -> None:
    """A worker's jobs print nothing: many runs share one terminal; failures come back as outcomes."""


def prices_folder(shared: Shared) -> Path | None:
    """The folder holding the shipped prices on this machine, written once per process (None: synthetic), and
    mended in place when a file in it is missing or of another size: it lives under the temporary folder while the
    sweep runs (its driver removes it at the end, sweep/price_copies.py), and /tmp's cleaners delete old files there
    (the folder kept, a run failed 'no file for SPY' and was not retried)."""
    if shared.prices is None:
        return None
    with _lock:
        known = _folders.get(shared.prices_hash)
        if known is not None and known.is_dir():
            _mend(known, shared.prices, shared.prices_written)
            return known
        folder = copy_path(shared.prices_hash)
        if not folder.is_dir():
            folder.parent.mkdir(parents=True, exist_ok=True)
            with staging(folder.parent) as staged:
                for name, data in sorted(shared.prices.items()):  # `intraday/SPY.csv` beside `SPY.csv`
                    (staged / name).parent.mkdir(parents=True, exist_ok=True)
                    (staged / name).write_bytes(data)
                    _date(staged / name, shared.prices_written, name)
                try:
                    staged.rename(folder)
                except OSError:  # another worker on this machine got there first: its copy is the same bytes
                    shutil.rmtree(staged, ignore_errors=True)
        _mend(folder, shared.prices, shared.prices_written)
        _folders[shared.prices_hash] = folder
        return folder


@contextlib.contextmanager
def staging(parent: Path) -> Iterator[Path]:
    """A new folder `.staging-*` under `parent` where this process writes a copy before moving it into place, locked
    (flock on the folder) while it does: a worker killed meanwhile leaves it, and a sweep's start or end removes such
    a folder once no process holds its lock (sweep/price_copies.py `drop_stale_staging`). The lock follows the folder
    when it is renamed into place, and is let go at the block's end."""
    path = Path(tempfile.mkdtemp(dir=parent, prefix=STAGING_PREFIX))
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(descriptor)


STAGING_PREFIX = ".staging-"


def copy_path(prices_hash: str) -> Path:
    """Where a worker on this machine writes the prices of fingerprint `prices_hash` (the driver removes it at the
    sweep's end: sweep/price_copies.py)."""
    return Path(tempfile.gettempdir()) / "llmtrade-sweep-prices" / prices_hash[:32]


def _mend(folder: Path, prices: dict[str, bytes], written: dict[str, int] | None) -> None:
    """Each file of `prices` written again into `folder` where it is missing or of another size, and given its
    modification time of `written` again where it has another (one replace each: another worker mending the same
    file at once writes the same bytes and time)."""
    for name, data in sorted(prices.items()):
        target = folder / name
        try:
            found = target.stat()
            if found.st_size == len(data):
                if written is not None and name in written and found.st_mtime_ns != written[name]:
                    _date(target, written, name)
                continue
        except FileNotFoundError:
            pass
        target.parent.mkdir(parents=True, exist_ok=True)  # an intraday file's folder removed with it
        staged = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
        staged.write_bytes(data)
        _date(staged, written, name)
        staged.replace(target)


def _date(path: Path, written: dict[str, int] | None, name: str) -> None:
    """`path` (the copy of file `name`) given the modification time its file had in the user's folder, as a backtest
    of that folder reads it (market/csv_unfinished.py); left as written when none was shipped."""
    if written is not None and name in written:
        os.utime(path, ns=(written[name], written[name]))
