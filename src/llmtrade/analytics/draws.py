"""arch's stationary-bootstrap index draws made in a process of their own, started well before they are needed.

Importing arch costs some 1.2 CPU seconds a process (its univariate package brings pandas, scipy.stats,
statsmodels and matplotlib), and a backtest needs arch only for its leaderboard, at the very end: in-process,
on a thread or not, that import is paid on the backtest's own core, the largest fixed cost of a short backtest.
`drawn_apart()` starts a spawned process that imports arch at once, on the machine's other core while the weeks
run, and then makes the leaderboard's draws (`metrics.arch_indices`, the very call the process itself would
make: the same arrays, so the same bytes wherever they are made). `deferred`: the process is started later, at
`start_worker()` (a backtest's a few weeks in, when its other core is idle) or by the first draws taken; draws asked
for ahead before then are asked of it when it starts.

A process that cannot start, dies or fails is said nowhere and costs only its time: `indices` answers None and
the draws are made in this process, as without it. Nothing else is shared with the process (it is spawned, not
forked: no connection, lock or thread of this process reaches it). Without a worker, `import_ahead()` imports
arch on a daemon thread of this process instead, in the waits of a long job that needs it last.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import multiprocessing
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING

from llmtrade.worker_process import spawning, started_as_helper, stop_helper

if TYPE_CHECKING:
    import numpy as np

# The worker of the `drawn_apart` block this code runs in, if any (a context variable: a sweep's other
# backtests in other threads keep their own, or none).
_WORKER: contextvars.ContextVar[DrawWorker | None] = contextvars.ContextVar("llmtrade_draw_worker", default=None)
# Held while a worker starts: a sweep's backtests start theirs on threads, and each tells its own process from the
# children that were there before it.
_STARTING = threading.Lock()


class DrawWorker:
    """One spawned process that imports arch when it starts and makes stationary-bootstrap index draws."""

    def __init__(self, *, deferred: bool = False) -> None:
        self._pool: ProcessPoolExecutor | None = None
        # Draws asked for ahead (`ahead`), by their arguments: made by the worker while the caller goes on.
        self._ahead: dict[tuple[int, int, int, int], Future[np.ndarray]] = {}
        # Draws asked for ahead before the process was started: asked of it when it is.
        self._queued: list[tuple[int, int, int, int]] = []
        # The worker's process, known the moment it is started: `close` kills it even while it is still starting.
        self._process: multiprocessing.process.BaseProcess | None = None
        self._started = self._closed = False
        if not deferred:
            self.start()

    def start(self) -> None:
        """Spawn the process (it imports arch at once), and ask it for the draws queued before; once only."""
        if self._started or self._closed:
            return
        self._started = True
        # No process (a sandbox without semaphores): draws made here. A stop waits for the spawn (worker_process.py).
        with contextlib.suppress(Exception), _STARTING, spawning() as spawned:
            self._pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=started_as_helper
            )
            self._pool.submit(_import_arch)  # spawns the process now
            self._process = next(iter(spawned()), None)
        queued, self._queued = self._queued, []
        for args in queued:
            self.ahead(*args)

    @property
    def pid(self) -> int | None:
        """The worker process's id (known from its start, before it answers anything), or None without one."""
        return self._process.pid if self._process is not None else None

    def indices(self, n: int, block: int, reps: int, seed: int) -> np.ndarray | None:
        """`metrics.arch_indices(n, block, reps, seed)` made in the worker (an int64 array, reps x n), or None
        when the worker is not there or failed (the caller then makes them itself). A worker not started yet is
        started now."""
        self.start()
        if self._pool is None:
            return None
        try:
            made = self._ahead.pop((n, block, reps, seed), None) or self._pool.submit(_draw, n, block, reps, seed)
            return made.result().astype("int64")  # back to arch's own dtype
        except Exception:  # a dead or broken worker (BrokenProcessPool, a pickling error): drawn in-process
            return None

    def ahead(self, n: int, block: int, reps: int, seed: int) -> None:
        """Have the worker make these draws now, for `indices` to take later (a dead worker: they are made then); a
        worker not started yet makes them once it is."""
        if not self._started and not self._closed:
            self._queued.append((n, block, reps, seed))
            return
        if self._pool is None or (n, block, reps, seed) in self._ahead:
            return
        with contextlib.suppress(Exception):  # a broken pool: `indices` finds out, and the draws are made in-process
            self._ahead[(n, block, reps, seed)] = self._pool.submit(_draw, n, block, reps, seed)

    def close(self) -> None:
        """Stop the worker at once (worker_process.stop_helper): killed, since it holds nothing (an orderly exit of a
        process that imported pandas, scipy and matplotlib takes 0.3-0.7 s, the largest part of a short backtest's
        tail; a worker still starting, importing arch, was waited for, and a SIGTERM'd backtest ran on meanwhile: seen
        once in CI), and never left hanging on an answer it was writing when killed (draws asked ahead, not taken)."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            stop_helper(pool, self._process)


@contextlib.contextmanager
def drawn_apart(enabled: bool = True, *, deferred: bool = False) -> Iterator[None]:
    """Inside the block (when `enabled`), `metrics`' bootstrap draws come from a worker process started now
    (`deferred`: at `start_worker()`, or the first draws taken); the worker is shut down when the block ends,
    whatever way it ends."""
    if not enabled:
        yield
        return
    worker = DrawWorker(deferred=deferred)
    token = _WORKER.set(worker)
    try:
        yield
    finally:
        _WORKER.reset(token)
        worker.close()


def import_pending() -> bool:
    """Whether arch is still to be imported in this process: only then does a worker gain a command anything (a
    sweep's driver, or a test session, has it already, and its draws are quick in-process)."""
    return "arch" not in sys.modules


def start_worker() -> None:
    """Start the deferred worker of the `drawn_apart` block this code runs in (nothing without one, or once started)."""
    worker = _WORKER.get()
    if worker is not None:
        worker.start()


def current() -> DrawWorker | None:
    """The worker of the `drawn_apart` block this code runs in, or None."""
    return _WORKER.get()


def _import_arch() -> None:
    import arch.bootstrap  # noqa: F401  - what the worker is for: the import, on its own core


def _draw(n: int, block: int, reps: int, seed: int) -> np.ndarray:
    """The draws, in the narrowest integer type that holds indices below n: 2,000 draws of 2,600 sessions are 42 MB
    as int64, some 0.1 s to pickle, send and unpickle, and a quarter of that as int16; the same indices."""
    import numpy as np

    from llmtrade.analytics.metrics import arch_indices

    made = arch_indices(n, block, reps, seed)
    for narrow in (np.int16, np.int32):
        if n <= np.iinfo(narrow).max:
            return made.astype(narrow)
    return made


def import_ahead() -> threading.Thread:
    """Start importing arch (some 1.1 CPU seconds, most of it its univariate package, statsmodels and matplotlib) on a
    daemon thread, and return it: for a process whose bootstrap draws no `drawn_apart` worker makes.

    For a caller with a long stretch of work before its first interval (a backtest: its leaderboard comes
    last) whose thread often waits on something else (PostgreSQL): the import runs in those waits instead
    of adding to the wall time at the end. Nothing depends on the thread: a later import waits for it
    (Python's per-module import lock) or, if it failed, imports again and raises there."""
    thread = threading.Thread(target=_import_bootstrap, args=(("arch.bootstrap",),), name="import-arch", daemon=True)
    thread.start()
    return thread


def _import_bootstrap(modules: tuple[str, ...]) -> None:
    try:
        for module in modules:
            importlib.import_module(module)
    except Exception:  # said where it matters: by the interval's own import, on the caller's thread
        return
