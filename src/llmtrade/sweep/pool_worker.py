"""What a sweep's pool worker process runs (sweep/executors.py LocalExecutor): its start and each task.

Contract: `initialise(shared)` is the pool's initializer: it keeps what every run needs (shipped once), keeps the
libraries' warnings off the terminal, makes the idle worker ignore Ctrl-C and SIGTERM (the pool's shutdown ends
it) and starts a watch that ends the worker once its driver is gone. `run_in_pool(task)` runs one task with Ctrl-C
and SIGTERM answered as in a command (`running_a_task`), and hands back its outcome.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from llmtrade.stops import stops_answered_for_good
from llmtrade.sweep.work import RunOutcome, RunTask, Shared, run
from llmtrade.worker_process import stopped_while_starting, stops_unblocked, without_library_warnings

_worker_shared: Shared | None = None


def initialise(shared: Shared) -> None:
    """A pool process's start: keep what every run needs, shipped once (not with every task); the libraries' warnings
    kept off the terminal (worker_process.without_library_warnings); Ctrl-C and SIGTERM answered as in a command."""
    global _worker_shared
    _worker_shared = shared
    without_library_warnings()
    warnings_to_log_file()
    if stopped_while_starting():  # the sweep is being stopped (the group's Ctrl-C): this worker runs nothing
        os._exit(0)
    stops_answered_for_good()  # a SIGTERM to the group stops the worker's run as Ctrl-C does, each said once
    _ANSWERS.update({s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)})
    _idle()
    # Blocked from its start (executors.py `_submit`): a Ctrl-C while it imported printed its traceback.
    stops_unblocked()
    threading.Thread(target=_watch_the_driver, args=(os.getppid(),), name="driver-watch", daemon=True).start()


def warnings_to_log_file() -> None:
    """The runs' warnings (each said on stderr by its container) kept in LLMTRADE_HOME/logs/llmtrade.jsonl, as a
    command's are: this process sets no logging up, and each came out as a bare "Warned" line on the terminal."""
    from llmtrade.observe.logs import warnings_only  # lazy: see package docstring
    from llmtrade.settings import load_settings

    warnings_only(lambda: load_settings().home)


# Set while a pool worker runs a task (`running_a_task`): what its watch of the driver stops when the driver is gone.
_BUSY = threading.Event()
# How often a pool worker looks whether its driver is still there, and how long it gives its run to stop once not.
_WATCH = 0.5
_ORPHANED_STOP = 60.0


def _watch_the_driver(driver: int) -> None:
    """A pool worker's watch of the driver (its parent): once gone, the worker ends, its run first stopped as on
    SIGTERM (its finished weeks kept). A driver killed alone (`kill -9`, the OOM killer, a systemd SIGKILL of the
    main process) left its workers running their backtests with no one to record them, each writing its books beside
    the rerun (whose run of it then failed, "in use by another process"), and an idle one waiting for work for ever.
    Its parent's id changes when it dies (to init's, or a subreaper's)."""
    while os.getppid() == driver:
        time.sleep(_WATCH)
    if _BUSY.is_set():
        # To the main thread itself, where the run is and the handler is answered (`running_a_task`): sent to the
        # process, it may land on this thread, and the main thread's wait (a query's) went on unbroken.
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
        deadline = time.monotonic() + _ORPHANED_STOP
        while _BUSY.is_set() and time.monotonic() < deadline:
            time.sleep(0.1)
    os._exit(0)


# The worker's answers to Ctrl-C and SIGTERM while it runs a task (`stops_answered_for_good`'s).
_ANSWERS: dict[int, Any] = {}


def _idle() -> None:
    """Waiting for work, a worker ignores Ctrl-C and SIGTERM: the pool's shutdown ends it, or, a pool broken by a
    worker's death, its `terminate` (worker_process.spawn_context). Raised there, the stop killed it with a traceback
    (concurrent.futures' wait for work does not catch it)."""
    for signum in _ANSWERS:
        signal.signal(signum, signal.SIG_IGN)


@contextlib.contextmanager
def running_a_task() -> Iterator[None]:
    """Within the block, Ctrl-C and SIGTERM stop the worker's run, as a command's (`_ANSWERS`)."""
    for signum, handler in _ANSWERS.items():
        signal.signal(signum, handler)
    _BUSY.set()
    try:
        yield
    finally:
        _BUSY.clear()
        _idle()


def run_in_pool(task: RunTask) -> RunOutcome:
    if _worker_shared is None:
        raise RuntimeError("a sweep worker ran a task before its initializer")
    with running_a_task():
        return run(task, _worker_shared)
