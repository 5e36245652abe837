"""A local-executor worker killed mid-run (SIGKILL, as the OOM killer would): that run comes back failed (`worker
lost`), the run that was not on it finishes, and the retry the driver then asks for runs on a fresh pool.

The victim's run is held mid-run deterministically: its backtest database exists already (a copy of the
migrated template) and the test holds a lock on its schema_migrations table, so the worker blocks in its
first query until the test lets go, after the kill."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

import psutil
import psycopg
import pytest

from llmtrade.config.loader import load_config
from llmtrade.settings import Settings
from llmtrade.storage.database import backtest_database
from llmtrade.sweep import spec
from llmtrade.sweep.executors import LocalExecutor
from llmtrade.sweep.spec import RunPlan
from llmtrade.sweep.work import RunTask, Shared
from tests.support import main_thread_inside


def _url(admin_url: str, database: str) -> str:
    head, _, query = admin_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")


def _blocked(admin_url: str, database: str) -> bool:
    """Whether a session in `database` waits for a lock (the victim's worker, inside its run)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", (database,)
        ).fetchone()
    return bool(row and row[0])


def _held_sweep(pg_admin_url: str, tmp_path: Path) -> tuple[RunPlan, RunPlan, str, psycopg.Connection, Shared]:
    """A two-run sweep (one week each) whose `victim` run will be held mid-run: its database is made ahead (a copy of
    the migrated template) and `holder` locks its schema_migrations table until rolled back, so a worker running it
    blocks in its first query. Returns (victim, other, the victim's database, holder, what the workers share)."""
    name = f"k{uuid.uuid4().hex[:8]}"
    home = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{home}"')
    settings = Settings(DATABASE_URL=_url(pg_admin_url, home), LLMTRADE_HOME=str(tmp_path / "home"))
    path = tmp_path / "sweep.yaml"
    path.write_text(
        f"name: {name}\nranges: [{{from: 2026-01-07, to: 2026-01-07}}]\n"
        "overrides: {victim: {}, other: {risk.limits.max_position_pct: 0.05}}\n"
    )
    victim, other = spec.plan(path, spec.read(path), load_config(None), prices="synthetic", csv=False)
    assert victim.axes["overrides"] == "victim"
    books = backtest_database(victim.backtest)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{books}" TEMPLATE "llmtrade_migrated" STRATEGY FILE_COPY')
    holder = psycopg.connect(_url(pg_admin_url, books))
    holder.execute("LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE")  # held until rollback
    shared = Shared(
        settings=settings.model_dump(by_alias=True, exclude_none=True),
        config_dir=None,
        config_source="packaged",
        prices=None,
        prices_hash="synthetic",
    )
    return victim, other, books, holder, shared


def test_a_killed_local_worker_fails_its_run_only_and_the_retry_runs_on_a_fresh_pool(
    pg_admin_url: str, tmp_path: Path
) -> None:
    victim, other, books, holder, shared = _held_sweep(pg_admin_url, tmp_path)
    executor = LocalExecutor(shared, workers=2)
    try:
        outcomes = executor.map([RunTask(plan=victim, attempt=1), RunTask(plan=other, attempt=1)])
        first = next(outcomes)
        assert (first.run_id, first.error) == (other.run_id, None)  # the other run finished beside the held one
        assert first.leaderboard is not None
        deadline = time.monotonic() + 30
        while not _blocked(pg_admin_url, books):
            assert time.monotonic() < deadline, "the victim's run never reached its database"
            time.sleep(0.05)
        workers = [
            p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline()) and p.pid != first.worker
        ]
        assert len(workers) == 1  # the pool's other process: the one holding the victim's run
        os.kill(workers[0].pid, signal.SIGKILL)
        second = next(outcomes)
        holder.rollback()
        assert second.run_id == victim.run_id
        assert second.attempt == 1
        assert second.error is not None and second.error.startswith("worker lost: BrokenProcessPool")
        assert second.code == 75  # temporary: a sweep left so exits 75, and its rerun resumes the run
        assert second.leaderboard is None
        with pytest.raises(StopIteration):
            next(outcomes)

        # The driver's retry of the lost run (attempt 2) on the same executor: a fresh pool runs it.
        (retried,) = list(executor.map([RunTask(plan=victim, attempt=2)]))
        assert (retried.run_id, retried.attempt, retried.error) == (victim.run_id, 2, None)
        assert retried.leaderboard is not None
        assert retried.worker != workers[0].pid
    finally:
        holder.close()
        executor.close()


def test_a_sweep_workers_library_warnings_reach_no_terminal() -> None:
    """A Ctrl-C stopping a worker's query had psycopg print "error ignored in rollback of <psycopg.Transaction ...>"
    through logging's last-resort handler (a worker sets no logging up), before the sweep's one line."""
    import subprocess
    import sys

    code = (
        "import logging\n"
        "from llmtrade.sweep.pool_worker import initialise\n"
        "logging.getLogger('psycopg').warning('error ignored before the start')\n"
        "initialise(None)  # a pool process's start\n"
        "logging.getLogger('psycopg').warning('error ignored in rollback')\n"
        "logging.getLogger('somebody.else').warning('shown as ever')\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.splitlines() == ["error ignored before the start", "shown as ever"]


@pytest.mark.parametrize(("signum", "stop"), [("SIGTERM", "Terminated"), ("SIGINT", "KeyboardInterrupt")])
def test_a_sweep_worker_answers_a_stop_as_its_command_does(signum: str, stop: str) -> None:
    """A SIGTERM to the process group (`timeout`, systemd) killed the workers outright: multiprocessing's resource
    tracker then printed "There appear to be 10 leaked semaphore objects" after the sweep's one line; a Ctrl-C landing
    between making a coroutine and awaiting it printed the worker's "RuntimeWarning: coroutine ... was never awaited"
    (a new user's trials). A worker's run now stops as on Ctrl-C (stops.Terminated for SIGTERM), saying nothing."""
    import subprocess
    import sys

    code = (
        "import gc, os, signal, time\n"
        "from llmtrade.stops import Terminated\n"
        "from llmtrade.sweep.pool_worker import initialise, running_a_task\n"
        "initialise(None)  # a pool process's start\n"
        f"os.kill(os.getpid(), signal.{signum})  # waiting for work: ignored (the pool's shutdown ends it)\n"
        "time.sleep(0.2)\n"
        "async def job():\n"
        "    pass\n"
        "try:\n"
        "    with running_a_task():\n"
        "        made = job()  # made, and the stop lands before it is awaited\n"
        f"        os.kill(os.getpid(), signal.{signum})\n"
        "        time.sleep(5)\n"
        "except KeyboardInterrupt as exc:\n"
        "    del made\n"
        "    gc.collect()\n"
        "    print('stopped by', type(exc).__name__)\n"
        f"os.kill(os.getpid(), signal.{signum})  # waiting for work again: ignored\n"
        "time.sleep(0.2)\n"
        "print('still there')\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    said = ran.stdout + ran.stderr
    assert (ran.returncode, ran.stdout.split()) == (0, ["stopped", "by", stop, "still", "there"]), said
    assert ran.stderr == ""


def test_a_ctrl_c_reaching_a_starting_sweep_worker_leaves_no_traceback_and_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A terminal's Ctrl-C reaches the sweep's workers too: one still starting (Python answers SIGINT from its first
    moments) printed its KeyboardInterrupt traceback after the sweep's one line. It now starts with the stops
    blocked (worker_process.spawning) and, finding one came, ends without running anything."""
    from concurrent.futures.process import BrokenProcessPool

    from tests.test_helper_spawn_stops import _ended, ctrl_c_while_it_starts, on_each_spawn

    spawned = on_each_spawn(monkeypatch, ctrl_c_while_it_starts)
    executor = LocalExecutor(None, workers=1)  # type: ignore[arg-type]
    try:
        future = executor._submit(None)  # type: ignore[arg-type]
        assert isinstance(future.exception(timeout=60), BrokenProcessPool)  # it ran nothing
    finally:
        executor.close()
    assert spawned
    for pid in spawned:
        _ended(pid)
    assert "Traceback" not in capfd.readouterr().err


def test_a_driver_stopped_alone_stops_the_runs_in_flight_too(
    pg_admin_url: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """`kill PID` or `docker stop` signals the driver alone: its pool's shutdown then waited for each run in flight to
    finish, a whole backtest. A worker still busy after a short grace is sent SIGTERM, and its run stops as on Ctrl-C;
    one waiting for work ignores it (raised there, the stop killed it with a traceback). The victim's run is held
    mid-run on a lock (as in the test above), so it never finishes by itself; the other's worker is idle by then."""
    import threading

    victim, other, books, holder, shared = _held_sweep(pg_admin_url, tmp_path)
    executor = LocalExecutor(shared, workers=2)

    def stop_the_driver_once_the_run_is_held() -> None:
        # Sent once the main thread waits inside the executor's `map` (its next outcome): sent as soon as the run was
        # held, on a loaded machine it landed while the main thread was still starting this thread.
        deadline = time.monotonic() + 60
        while (
            not (_blocked(pg_admin_url, books) and main_thread_inside(LocalExecutor.map.__code__))
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)  # this process alone: not its worker

    closing = threading.Thread(target=executor.close, daemon=True)
    try:
        outcomes = executor.map([RunTask(plan=victim, attempt=1), RunTask(plan=other, attempt=1)])
        assert next(outcomes).run_id == other.run_id  # its worker now waits for work
        threading.Thread(target=stop_the_driver_once_the_run_is_held, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            next(outcomes)
        closing.start()
        closing.join(timeout=30)
        assert not closing.is_alive(), "the pool's shutdown still waits for the held run"
        assert _blocked(pg_admin_url, books) is False  # the run stopped, the lock still held
        assert "Traceback" not in capfd.readouterr().err  # nor did the idle worker die of the stop
    finally:
        holder.rollback()
        holder.close()
        if not closing.is_alive() and not closing.ident:
            executor.close()
        closing.join(timeout=60)


def test_a_sweep_workers_stop_dropped_in_a_weakref_callback_prints_nothing_and_still_stops() -> None:
    """A SIGTERM the driver sends a busy worker (`_stop_running`) landed in a weakref callback: Python printed
    "Exception ignored in: <function WeakSet.__init__.<locals>._remove ...>" and Terminated's traceback (a trial:
    `kill -INT` of a sweep's driver). Not printed now, and the run stops at its next job (`stop_if_terminated`)."""
    import subprocess
    import sys

    code = (
        "import signal, weakref\n"
        "from llmtrade.stops import Terminated, stop_if_terminated\n"
        "from llmtrade.sweep.pool_worker import initialise, running_a_task\n"
        "initialise(None)  # a pool process's start\n"
        "class Referent:\n"
        "    pass\n"
        "try:\n"
        "    with running_a_task():\n"
        "        referent = Referent()\n"
        "        held = weakref.ref(referent, lambda _ref: signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None))\n"
        "        del referent  # the handler raises inside the callback, where Python can only drop it\n"
        "        stop_if_terminated()\n"
        "except Terminated:\n"
        "    print('stopped at the next job')\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (ran.returncode, ran.stdout.strip(), ran.stderr) == (0, "stopped at the next job", "")


def test_a_driver_killed_outright_leaves_no_worker_running_its_run(pg_admin_url: str, tmp_path: Path) -> None:
    """The driver killed alone and outright (`kill -9`, the OOM killer, a systemd SIGKILL of its main process): its
    pool's workers went on, a busy one running its backtest to the end with no one to record it, writing the books
    a rerun then also ran (which failed "in use by another process"), and an idle one waited for work for ever. Now
    a worker whose driver is gone stops its run as on SIGTERM and ends. The driver runs in a process of its own, its
    one run held mid-run on a lock (`_held_sweep`); once it is killed the worker must end, and once the lock is let
    go nothing is written to the run's books."""
    import pickle
    import subprocess
    import sys

    victim, _, books, holder, shared = _held_sweep(pg_admin_url, tmp_path)
    held = tmp_path / "held.pickle"
    held.write_bytes(pickle.dumps((victim, shared)))
    code = (
        "import pickle, sys\n"
        "from llmtrade.sweep.executors import LocalExecutor\n"
        "from llmtrade.sweep.work import RunTask\n"
        "victim, shared = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "print(next(LocalExecutor(shared, workers=1).map([RunTask(plan=victim, attempt=1)])))\n"
    )
    import llmtrade

    here = str(Path(llmtrade.__file__).resolve().parents[1])  # this llmtrade, whatever the test's folder
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    driver = subprocess.Popen([sys.executable, "-c", code, str(held)], env=env)
    workers: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while not _blocked(pg_admin_url, books):
            assert driver.poll() is None and time.monotonic() < deadline, "the run never reached its database"
            time.sleep(0.05)
        workers = [
            p
            for p in psutil.Process(driver.pid).children(recursive=True)
            # The tracker by its code: every spawned process's command line names resource_tracker in its -W option
            # (worker_process._tracker_quiet).
            if "spawn_main" in " ".join(p.cmdline()) and "resource_tracker import main" not in " ".join(p.cmdline())
        ]
        assert len(workers) == 1
        driver.kill()
        driver.wait(timeout=10)
        _, alive = psutil.wait_procs(workers, timeout=20)
        assert not alive, "the worker still runs its run with its driver gone"
        holder.rollback()  # the run's first query may go on now, were it still there
        time.sleep(1)
        with psycopg.connect(_url(pg_admin_url, books)) as conn:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
        assert row is not None and row[0] == 0
    finally:
        holder.rollback()
        holder.close()
        for process in [*workers, psutil.Process(driver.pid)] if driver.poll() is None else workers:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
