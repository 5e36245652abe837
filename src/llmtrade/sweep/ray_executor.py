"""The `ray` executor (sweep/executors.py names the backends): tasks on a Ray cluster (`pip install "llmtrade[ray]"`;
Ray is imported only when it is chosen), a local one started for the sweep or the one at `address`."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from llmtrade.domain.tracing import log_warning
from llmtrade.errors import TemporaryError, UsageError
from llmtrade.exits import TEMPORARY
from llmtrade.stops import signals_held, stop_if_terminated
from llmtrade.sweep.ray_failures import UNSCHEDULABLE, ray_failure
from llmtrade.sweep.work import RunOutcome, RunTask, Shared, run

# How long a stopped driver waits for its runs in flight to end by themselves (KeyboardInterrupt raised in each) before
# it force-cancels each still running (RayExecutor._stop_running); LocalExecutor's grace alike.
_GRACE = 3.0
# How long a stopped Ray driver waits at most for a force-cancelled task's process to end (RayExecutor._stop_running).
_STOPPING = 30.0
# How long the sweep waits at most for a CPU on a cluster that has none (a head started with --num-cpus=0, no worker
# node yet): long enough for an autoscaler to start a node, which it does for the tasks pending (`_NoCpu`).
_NO_CPU_WAIT = 300.0
# How often the driver looks at the cluster's CPUs while no run comes back.
_LOOK = 2.0


class RayExecutor:
    """Ray tasks, one CPU each: a local Ray started for the sweep (`workers` CPUs), or the cluster at
    `address`, whose CPUs set how many run at once.

    Stopped (Ctrl-C, SIGTERM, any error of the driver's), it ends its tasks before it lets the driver go on
    (`close`). It used to ask them to stop and shut Ray down at once: Ray ends a job's workers when its driver leaves
    (its docs; a driver killed outright too, within a second here), so a run stopping as on Ctrl-C was killed in the
    middle of its stop, and a driver that joined a Ray it had not started left its tasks running. Each is cancelled as
    Ray's docs describe `ray.cancel`: KeyboardInterrupt raised in the task (its backtest stops as on Ctrl-C, its
    finished weeks kept), then, for one still running after `_GRACE`, `force=True` (its worker process is ended, as
    a SIGKILL would: the week in progress is rolled back); `close` returns once every task has ended (`_STOPPING`
    at most)."""

    name = "ray"

    def __init__(self, shared: Shared, workers: int = 0, address: str | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise UsageError(
                'the ray executor needs Ray: pip install "llmtrade[ray]" (or use --executor local)'
            ) from exc
        self._ray = ray
        self._started = False
        self._own = False  # a Ray of the sweep's own is being started (`_start`), not a cluster joined
        self._running: dict[Any, RunTask] = {}  # the tasks submitted and not yet handed back (`close` stops them)
        if not ray.is_initialized():
            before = _children()
            try:
                self._start(workers, address)
            except BaseException:
                # Stopped while its own Ray started (Ctrl-C, SIGTERM), or that start failed: what it began is ended
                # now, not at the interpreter's exit. Joining a cluster begins no process here.
                if self._own:
                    _end_started(ray, before)
                raise
        try:
            self._set_up(shared, workers, address)
        except BaseException:  # stopped before the driver holds the executor, whose `close` it would call
            self.close()
            raise

    def _start(self, workers: int, address: str | None) -> None:
        """ray.init: a Ray of the sweep's own, or the cluster at `address` (or RAY_ADDRESS) joined."""
        ray = self._ray
        # Ray's driver logs its start to stderr (INFO "Started a local Ray instance.", a WARNING that token
        # authentication is on) at every sweep: `-q`, nothing on success for cron, printed them each time. Its
        # errors still show; its workers' logs stay off the terminal (log_to_driver).
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
        }
        # RAY_ADDRESS names the cluster to join when --address does not (Ray's documented order; `ray job
        # submit` sets it for its entrypoint). Left to ray.init, it, or a cluster `ray start` ran on this machine,
        # made ray.init join a cluster given num_cpus: Ray's ValueError, a traceback and exit 1.
        named_by = "--address" if address is not None else "RAY_ADDRESS"
        address = address or os.environ.get("RAY_ADDRESS") or None
        if address == "local":
            # Ray's word (ray.init's docs, services.canonicalize_bootstrap_address) for a new local Ray even
            # beside a running one: the sweep's own, as with no address. Taken for a cluster's address, its Ray
            # had every CPU whatever --workers said, no PYTHONPATH for a checkout's llmtrade, and a failure to
            # start read "the Ray cluster at local (--address) did not answer".
            address = None
        if address is None:
            # "local": a Ray of the sweep's own, never one found on this machine (`--address auto` joins that).
            options["address"] = "local"
            self._own = True
            options["num_cpus"] = workers or os.cpu_count() or 1
            # The local workers import the llmtrade this driver runs (a checkout on sys.path, not only
            # the installed one); a cluster's nodes have their own install.
            options["runtime_env"] = {"env_vars": {"PYTHONPATH": _python_path()}}
        else:
            options["address"] = address
        # ray.init puts its own SIGTERM handler in (sys.exit(15)), which Ray's wait turns into SystemExit(1): a
        # SIGTERM ended the sweep with exit 1 and Ray's "*** SIGTERM received" dump, past the command's own
        # answer (its one line, exit 143). The command's is put back.
        answer = signal.getsignal(signal.SIGTERM)
        stopped = False
        try:
            ray.init(**options)
        except SystemExit as exc:
            # Ray's handler, in place while it starts, answers SIGTERM with sys.exit(15): the sweep exited 15 with no
            # line, not 143 with the command's, and the Ray processes begun so far ran on until the interpreter's exit.
            if exc.code != signal.SIGTERM or not callable(answer):
                raise
            stopped = True
        except ValueError as exc:
            if address is None:
                raise
            # An address ray.init refuses before it connects (the dashboard's http://HEAD:8265, which `ray job submit`
            # takes; a host with no port): a traceback and exit 1.
            raise UsageError(
                f"the Ray address {address} ({named_by}) cannot be used: {' '.join(str(exc).split())[:400]}"
            ) from None
        except ConnectionError as exc:  # a cluster that does not answer: a full traceback in a new user's trial
            said = " ".join(str(exc).split())[:300]
            if address is None:  # the sweep's own Ray did not start
                raise TemporaryError(f"the sweep's local Ray did not start ({said})") from None
            if "InvalidAuthToken" in str(exc.__cause__):  # Ray's AuthenticationError, only in its cause's text
                # The cluster runs and refused this process: "did not answer", exit 75, sent the user to check
                # that it runs and to rerun, which fails alike.
                raise UsageError(
                    f"the Ray cluster at {address} ({named_by}) refused this process: it requires token "
                    "authentication and this process's token is missing or not the cluster's; set "
                    "RAY_AUTH_MODE=token and the cluster's token (~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or "
                    "RAY_AUTH_TOKEN; "
                    "https://docs.ray.io/en/latest/ray-security/token-auth.html)"
                ) from None
            raise TemporaryError(
                f"the Ray cluster at {address} ({named_by}) did not answer ({said}); check {named_by} and that "
                "the cluster runs (`ray status` on its head node)"
            ) from None
        finally:
            if answer is not None:
                signal.signal(signal.SIGTERM, answer)
        if stopped:  # the command's handler, put back, answers it now: its stop, raised here
            signal.raise_signal(signal.SIGTERM)
        # A Ctrl-C landing in a finaliser while ray.init ran is one Python can only drop (stops.py `_unraisable`): the
        # sweep went on starting as if none came (a full run's test: "not stopped"). It is the command's stop, raised
        # here, so what ray.init began is ended (`__init__`).
        stop_if_terminated()
        self._started = True

    def _set_up(self, shared: Shared, workers: int, address: str | None) -> None:
        ray = self._ray
        _raylet_words_to_stderr()
        self.workers = workers or int(ray.cluster_resources().get("CPU", 1))
        # Runs in flight at most: --workers when given (a cluster joined ran one per free CPU whatever it said), else
        # every task at once, for the cluster's CPUs to decide as it grows or shrinks.
        self._at_once = workers or None
        self._remote = ray.remote(num_cpus=1, max_retries=0)(logged_on_worker(run))
        self._shared = ray.put(shared)  # once: every task gets the reference, each node fetches it once
        self._no_cpu = _NoCpu(ray, address)

    def map(self, tasks: Sequence[RunTask]) -> Iterator[RunOutcome]:
        ray = self._ray
        waiting = deque(tasks)
        pending: list[Any] = []
        try:
            while waiting or pending:
                self._hand_out(waiting, pending)
                # A stop raised by the command's handler while Ray waits comes out of ray.wait as KeyboardInterrupt
                # (Ray's check_signals), SIGTERM's included: the command tells it by the flag its handler set.
                done, pending = ray.wait(pending, num_returns=1, timeout=_LOOK)
                if not done and self._no_cpu.waited_enough():
                    # No node can run a task: Ray keeps each pending for good (its "infeasible" word goes to the
                    # cluster's events, not to the task), and the sweep waited for ever, saying nothing.
                    yield from self._unrunnable([*(self._running[ref] for ref in pending), *waiting])
                    return
                outcomes = [self._outcome(ref) for ref in done]
                # Refilled before the outcomes are handed on: no CPU waits while the driver records them.
                self._hand_out(waiting, pending)
                yield from outcomes
        finally:
            self._stop_running()

    def _hand_out(self, waiting: deque[RunTask], pending: list[Any]) -> None:
        """Submit waiting tasks while fewer than `_at_once` are in flight (all of them when it is None)."""
        while waiting and (self._at_once is None or len(pending) < self._at_once):
            task = waiting.popleft()
            ref = self._remote.remote(task, self._shared)
            self._running[ref] = task
            pending.append(ref)

    def _unrunnable(self, tasks: list[RunTask]) -> Iterator[RunOutcome]:
        """Each run not done, failed: the cluster had no CPU for `_NO_CPU_WAIT` (the pending tasks are cancelled by
        `map`'s end). Not retried in this sweep (it waited already); exit 75: the rerun goes on once a node is there."""
        for task in tasks:
            yield RunOutcome(
                run_id=task.plan.run_id,
                attempt=task.attempt,
                error=f"{UNSCHEDULABLE}: {self._no_cpu.said()}",
                final=True,
                code=TEMPORARY,
                seconds=0.0,
                worker=0,
            )

    def _outcome(self, ref: Any) -> RunOutcome:
        task = self._running.pop(ref)
        try:
            return self._ray.get(ref)
        except Exception as exc:  # the task raised outside `run` (it never raises), or Ray failed it: said by its kind
            return ray_failure(task, exc)

    def _stop_running(self) -> None:
        """Every task not handed back yet is cancelled, and waited for until it ended (see the class)."""
        if not self._running:
            return
        ray = self._ray
        refs = list(self._running)
        self._running.clear()
        # Held: a second Ctrl-C cut this short, and the tasks it had not reached went on writing.
        with signals_held():
            for ref in refs:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=False)
            _, left = ray.wait(refs, num_returns=len(refs), timeout=_GRACE, fetch_local=False)
            for ref in left:  # still running after its KeyboardInterrupt (blocked in a wait): its process is ended
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            if left:
                ray.wait(left, num_returns=len(left), timeout=_STOPPING, fetch_local=False)

    def close(self) -> None:
        try:
            self._stop_running()
        finally:
            if self._started:
                answer = signal.getsignal(signal.SIGTERM)
                # Held: a second Ctrl-C or SIGTERM (a user's second press, `timeout -k`'s) cut Ray's shutdown midway,
                # its raylet or GCS left running without a driver.
                with signals_held():
                    self._ray.shutdown()
                # ray.shutdown() sets SIGTERM back to the system's default below Python (getsignal still names the
                # command's handler): a SIGTERM after it, while the sweep built its leaderboard or printed its table,
                # ended it with 143, no line and no table. The command's handler is installed again.
                if callable(answer) and threading.current_thread() is threading.main_thread():
                    signal.signal(signal.SIGTERM, answer)


# The home whose log file a Ray worker's warnings go to: that of the sweep whose task it runs (`logged_on_worker`).
_WORKER_HOME: list[Path] = []


def logged_on_worker(run: Callable[[RunTask, Shared], RunOutcome]) -> Callable[[RunTask, Shared], RunOutcome]:
    """`run` as a Ray task: first its worker's warnings sent to the log file of the sweep's home
    (LLMTRADE_HOME/logs/llmtrade.jsonl), as a pool worker's start does (sweep/pool_worker.py). A Ray worker sets no
    logging up, and its stderr goes to Ray's session logs (log_to_driver is off): a run's warning (a prompt override
    that leaves something out, said by its container) reached no file of the user's. Set up by a worker's first task,
    then pointed at each task's home. Wrapped (functools.wraps): Ray names the task, and its worker's process title,
    after it ("ray::run")."""

    @functools.wraps(run)
    def on_worker(task: RunTask, shared: Shared) -> RunOutcome:
        try:
            from llmtrade.settings import Settings

            home = Settings(**shared.settings).home
        except Exception:  # settings the run itself will refuse, as its outcome
            return run(task, shared)
        if not _WORKER_HOME:
            from llmtrade.observe.logs import warnings_only

            _WORKER_HOME.append(home)
            warnings_only(lambda: _WORKER_HOME[0])
        _WORKER_HOME[0] = home
        return run(task, shared)

    return on_worker


def _children() -> set[int]:
    import psutil

    return {child.pid for child in psutil.Process().children(recursive=True)}


def _end_started(ray: Any, before: set[int]) -> None:
    """What a stopped or failed ray.init began is ended: ray.shutdown for a Ray it had set up, then each process of
    this driver's begun since (`before`: its children then) and still there, sent SIGTERM, as ray.shutdown does,
    killed after `_GRACE` (Ray's GCS, raylet and their helpers, begun before Ray knew them as a node). Left, they
    ran until the interpreter's exit, and then died with it unannounced: the raylet's agents, which report such a
    death to the GCS gone with it, lingered 60 s more (ray/_private/utils.py publish_error_to_driver's timeout)."""
    import psutil

    with signals_held(), contextlib.suppress(Exception):
        ray.shutdown()
        for _ in range(3):  # a raylet stopped while it started its agents: those it began meanwhile, next round
            begun = [child for child in psutil.Process().children(recursive=True) if child.pid not in before]
            if not begun:
                break
            for child in begun:
                with contextlib.suppress(psutil.Error):
                    child.terminate()
            _, left = psutil.wait_procs(begun, timeout=_GRACE)
            for child in left:
                with contextlib.suppress(psutil.Error):
                    child.kill()


def _raylet_words_to_stderr() -> None:
    """Ray's driver prints what the raylet reports of this job ("(raylet) A worker died or was killed while executing
    a task ...", a task killed for memory) to stdout, on a thread of its own, whatever log_to_driver says: `backtest
    sweep --json` wrote it before its JSON, and no parser read the answer. Each such report goes to stderr instead (the
    run's outcome says the same: "worker lost: WorkerCrashedError ..."). Ray's driver has no option for this: its
    printer (ray._private.worker.print_to_stdstream, looked up at each report) is wrapped; a Ray without it is left
    as it is."""
    from ray._private import worker

    printer = getattr(worker, "print_to_stdstream", None)
    if printer is None or getattr(printer, "to_stderr", False):
        return

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        printer({**data, "is_err": True}, ignore_prefix)

    to_stderr.to_stderr = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr


def _python_path() -> str:
    import llmtrade

    here = str(Path(llmtrade.__file__).resolve().parents[1])
    return os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])


class _NoCpu:
    """Whether the driver has waited long enough on a cluster with no CPU, no node of which can run a task of one
    (`ray.cluster_resources()`, every live node's total): said on stderr once as it begins to wait, what it waits
    for; `waited_enough` after `_NO_CPU_WAIT` of it. A CPU found again starts the count anew."""

    def __init__(self, ray: Any, address: str | None) -> None:
        self._ray = ray
        try:
            self._where = address or ray.get_runtime_context().gcs_address
        except Exception:  # a Ray without it: the words go without the address
            self._where = address or "?"
        self._since: float | None = None
        self._told = False

    def waited_enough(self) -> bool:
        if self._ray.cluster_resources().get("CPU", 0) >= 1:
            self._since = None
            return False
        now = time.monotonic()
        if self._since is None:
            self._since = now
        if not self._told:
            self._told = True
            said = (
                f"warning: the Ray cluster at {self._where} has no CPU: none of its nodes can run a run ({_WHY}); "
                f"waiting up to {_NO_CPU_WAIT:.0f} s for a node with a CPU (a worker node joining, the autoscaler "
                "starting one)"
            )
            # On stderr, said with --quiet too (a line that needs a look; console.py is above this layer), and kept in
            # the log file as every warning said on stderr is (a driver under cron waits where no one reads stderr).
            print(said, file=sys.stderr, flush=True)
            log_warning(said)
        return now - self._since >= _NO_CPU_WAIT

    def said(self) -> str:
        return (
            f"the Ray cluster at {self._where} had no CPU for {_NO_CPU_WAIT:.0f} s ({_WHY}): start a worker node "
            "(ray start --address HEAD:6379) or give the head CPUs (ray start --head --num-cpus N), then rerun the "
            "sweep"
        )


_WHY = (
    "a head node started with --num-cpus=0 and no worker node joined, or its worker nodes gone; `ray status` lists them"
)
