"""Where a sweep's runs execute: one Executor protocol, three backends, chosen by name (`EXECUTORS`).

- `serial` (the default): every run in this process, one after another;
- `local`: a pool of processes on this machine (concurrent.futures with the spawn start method, so a
  worker starts clean rather than as a fork of a process holding database connections and threads);
- `ray`: tasks on a Ray cluster (`pip install "llmtrade[ray]"`; imported only when chosen): a local one
  started for the sweep, or the one at `address` (`auto` inside `ray job submit`).

The unit of work is a whole run (sweep/work.py `run`). What every run needs (`Shared`: settings, config
folder, prices) is shipped to each worker once: the process pool's initializer, one `ray.put` whose
reference every task receives. Runs return their outcome, never raise, so the order in which they finish
changes nothing the driver records about them (it records each outcome as it comes; the leaderboard is
built in plan order). What a pool worker process runs is sweep/pool_worker.py; the Ray backend is
sweep/ray_executor.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from llmtrade.errors import UsageError
from llmtrade.sweep.outcomes import lost
from llmtrade.sweep.pool_worker import initialise, run_in_pool
from llmtrade.sweep.ray_executor import RayExecutor
from llmtrade.sweep.work import RunOutcome, RunTask, Shared, run
from llmtrade.worker_process import spawn_context, spawning

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor
    from multiprocessing.process import BaseProcess

# How long a stopped driver waits for its runs in flight to end by themselves (the workers got the group's stop too)
# before it sends each worker still busy a SIGTERM (LocalExecutor._stop_running).
_GRACE = 3.0


class Executor(Protocol):
    """Runs tasks and yields each outcome as it finishes (in any order). `workers` is how many run at once."""

    name: str
    workers: int

    def map(self, tasks: Sequence[RunTask]) -> Iterator[RunOutcome]:
        """Every task's outcome, as each finishes."""
        ...

    def close(self) -> None:
        """Stop the workers this executor started (a cluster it only joined is left running)."""
        ...


class SerialExecutor:
    """Every run in this process, in the order given."""

    name = "serial"

    def __init__(self, shared: Shared, workers: int = 1, address: str | None = None) -> None:
        if address is not None:
            raise UsageError("--address is for --executor ray: the serial executor runs in this process")
        if workers > 1:  # ignored before: 'on serial (1 worker)' was all that said so
            raise UsageError(
                f"--workers {workers} is for --executor local or ray: the serial executor runs one run at a time, in "
                "this process"
            )
        self.workers = 1
        self._shared = shared

    def map(self, tasks: Sequence[RunTask]) -> Iterator[RunOutcome]:
        for task in tasks:
            yield run(task, self._shared)

    def close(self) -> None:
        return None


class LocalExecutor:
    """A pool of `workers` spawned processes on this machine.

    At most `workers` tasks are handed to the pool at a time, so when a worker dies (killed, out of memory)
    the runs lost are exactly the ones in flight: concurrent.futures then breaks the whole pool (its other
    workers are stopped too), each in-flight run comes back failed (`lost`, retried by the driver) and the
    runs not yet handed out go to a fresh pool, as does every later `map`."""

    name = "local"

    def __init__(self, shared: Shared, workers: int = 0, address: str | None = None) -> None:
        if address is not None:
            raise UsageError("--address is for --executor ray: the local executor uses this machine's processes")
        self.workers = workers or os.cpu_count() or 1
        self._shared = shared
        self._workers: set[BaseProcess] = set()  # every process the pools spawned (`_stop_running` signals them)
        self._pool = self._open()

    def _open(self) -> ProcessPoolExecutor:
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=spawn_context(),
            initializer=initialise,
            initargs=(self._shared,),
        )

    def _submit(self, task: RunTask) -> Future[RunOutcome]:
        from concurrent.futures.process import BrokenProcessPool

        # A submit may spawn a worker: it starts with Ctrl-C and SIGTERM blocked, and a stop meanwhile waits for the
        # spawn (worker_process.spawning).
        with spawning() as spawned:
            try:
                return self._pool.submit(run_in_pool, task)
            except BrokenProcessPool:  # a worker died in an earlier batch: the pool is gone, start another
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = self._open()
                return self._pool.submit(run_in_pool, task)
            finally:
                self._workers.update(spawned())

    def _hand_out(self, waiting: deque[RunTask], running: dict[Future[RunOutcome], RunTask]) -> None:
        """Submit waiting tasks until one is in flight per worker."""
        while waiting and len(running) < self.workers:
            task = waiting.popleft()
            running[self._submit(task)] = task

    def map(self, tasks: Sequence[RunTask]) -> Iterator[RunOutcome]:
        from concurrent.futures import FIRST_COMPLETED, wait

        waiting = deque(tasks)
        running: dict[Future[RunOutcome], RunTask] = {}
        try:
            self._hand_out(waiting, running)
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                outcomes = []
                for future in finished:
                    task = running.pop(future)
                    try:
                        outcomes.append(future.result())
                    except Exception as exc:  # the worker process died (killed, out of memory): the run failed
                        outcomes.append(lost(task, exc))
                # Refilled before the outcomes are handed on: a worker need not wait while the driver records.
                self._hand_out(waiting, running)
                yield from outcomes
        except KeyboardInterrupt:
            self._stop_running(running)
            raise
        finally:
            for future in running:
                future.cancel()

    def _stop_running(self, running: dict[Future[RunOutcome], RunTask]) -> None:
        """The driver was stopped: the runs in flight stop too. A stop sent to the group (a terminal's Ctrl-C,
        `timeout`, systemd) reached the workers already, and their runs end within `_GRACE`; a stop of the driver
        alone (`kill PID`, `docker stop`) did not, and the pool's shutdown waited for each run in flight to finish
        (a whole backtest), so each worker still busy is sent SIGTERM, which it answers as a command does."""
        from concurrent.futures import wait

        busy = wait(running, timeout=_GRACE).not_done if running else set()
        if not busy:
            return
        for process in self._workers:  # an idle one ignores it (sweep/pool_worker.py `running_a_task`)
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


EXECUTORS: dict[str, Callable[..., Executor]] = {
    "serial": SerialExecutor,
    "local": LocalExecutor,
    "ray": RayExecutor,
}


def open_executor(name: str, shared: Shared, *, workers: int = 0, address: str | None = None) -> Executor:
    """The executor `name` (serial | local | ray) with `shared` shipped to its workers. UsageError (exit 2)
    for an unknown name, an option the backend does not take, or Ray missing."""
    factory = EXECUTORS.get(name)
    if factory is None:
        raise UsageError(f"--executor {name}: choose one of {', '.join(EXECUTORS)}")
    return factory(shared, workers=workers, address=address)
