"""A sweep on Ray as a user with a real Ray install meets it: a cluster named by RAY_ADDRESS, and a worker
process killed in the middle of its run. Ray is a real local one of two CPUs (test_sweep_backends' fixture),
started once for this module."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from llmtrade.config.loader import load_config
from llmtrade.settings import Settings
from llmtrade.storage.database import backtest_database
from llmtrade.sweep import spec
from llmtrade.sweep.driver import SweepOptions, run_sweep, sweep_database
from tests.test_sweep_backends import SRC, ray_cluster  # noqa: F401 (the fixture, used by name)
from tests.test_sweep_kill import _blocked, _url


def test_a_sweep_without_address_joins_the_cluster_ray_address_names(
    ray_cluster: None,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RAY_ADDRESS (set by `ray job submit` for its entrypoint, or by the user) makes ray.init() join that cluster, as
    Ray documents, and so does a cluster `ray start` ran on this machine: the executor's ray.init(num_cpus=...) then
    raised Ray's ValueError "When connecting to an existing cluster, num_cpus and num_gpus must not be provided", a
    traceback and exit 1 where `--address` of the same cluster worked. Now RAY_ADDRESS is an --address not given,
    and with neither the executor asks Ray for a Ray of its own ("local"), not for one it finds."""
    import ray

    from llmtrade.sweep.executors import RayExecutor
    from llmtrade.sweep.work import Shared

    address = ray.get_runtime_context().gcs_address
    script = (
        "from llmtrade.sweep.executors import RayExecutor\n"
        "from llmtrade.sweep.work import Shared\n"
        "shared = Shared(settings={}, config_dir=None, config_source='packaged', prices=None, prices_hash='x')\n"
        "executor = RayExecutor(shared)\n"
        "print(executor.workers)\n"
        "executor.close()\n"
    )
    env = {**os.environ, "RAY_ADDRESS": address, "PYTHONPATH": SRC}  # the session's token mode: Ray set it at start
    joined = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert joined.returncode == 0, joined.stderr[-2000:]
    assert joined.stdout.split() == ["2"]  # the cluster's CPUs
    assert ray.cluster_resources().get("CPU") == 2  # the joined cluster is left running

    started: list[dict[str, Any]] = []
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: bool(started))
    monkeypatch.setattr(ray, "init", lambda **options: started.append(options))
    monkeypatch.setattr(ray, "shutdown", lambda: None)  # the module's Ray stays
    shared = Shared(settings={}, config_dir=None, config_source="packaged", prices=None, prices_hash="x")
    RayExecutor(shared, workers=2).close()
    assert (started[0]["address"], started[0]["num_cpus"]) == ("local", 2)


def test_a_ray_worker_killed_mid_run_fails_that_attempt_and_the_retry_finishes_it_with_stdout_kept_clean(
    ray_cluster: None,  # noqa: F811
    pg_admin_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Ray worker killed in the middle of its run (SIGKILL, as the OOM killer would): that attempt is recorded failed
    ("worker lost: WorkerCrashedError"), the retry finishes the run, and it is recorded finished once. Ray's driver
    prints the raylet's word of the death ("(raylet) A worker died or was killed while executing a task ...") to stdout,
    whatever log_to_driver says: `backtest sweep --json` wrote it before its JSON, which no parser read. It goes to
    stderr now. The run is held in its first query (its database made ahead, a table of it locked) so the kill lands
    mid-run; the lock is let go once the worker is dead."""
    from llmtrade.clock import SystemClock
    from llmtrade.domain import streams
    from llmtrade.storage.bootstrap import open_storage
    from llmtrade.storage.database import locate, sibling

    name = f"w{uuid.uuid4().hex[:8]}"
    home = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{home}"')
    settings = Settings(DATABASE_URL=_url(pg_admin_url, home), LLMTRADE_HOME=str(tmp_path / "home"))
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: {name}\nretries: 1\nranges: [{{from: 2026-01-07, to: 2026-01-07}}]\n")
    (plan,) = spec.plan(path, spec.read(path), load_config(None), prices="synthetic", csv=False)
    books = backtest_database(plan.backtest)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{books}" TEMPLATE "llmtrade_migrated" STRATEGY FILE_COPY')
    holder = psycopg.connect(_url(pg_admin_url, books))
    holder.execute("LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE")  # held until rollback
    killed: list[int] = []

    def kill_the_worker_once_its_run_is_held() -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            running = [p for p in psutil.Process().children(recursive=True) if _title(p).startswith("ray::run")]
            if _blocked(pg_admin_url, books) and len(running) == 1:
                running[0].kill()
                killed.append(running[0].pid)
                running[0].wait(10)
                break
            time.sleep(0.1)
        holder.rollback()  # the retry's first query goes on

    killer = threading.Thread(target=kill_the_worker_once_its_run_is_held, daemon=True)
    killer.start()
    try:
        result = run_sweep(settings, load_config(None), None, path, SweepOptions(executor="ray", workers=2))
    finally:
        killer.join(100)
        holder.rollback()
        holder.close()
    assert killed
    (run,) = result.runs
    assert (run.status, run.attempts) == ("finished", 2)
    location = sibling(locate(settings), sweep_database(name))
    with open_storage(settings, SystemClock(), location=location) as storage:
        said = [(e.type, e.payload.get("attempt")) for e in storage.events.read_stream(streams.SWEEP)]
        failed = [e.payload["error"] for e in storage.events.read_stream(streams.SWEEP) if e.type == "SweepRunFailed"]
    assert [s for s in said if s[0] != "SweepStarted"] == [("SweepRunFailed", 1), ("SweepRunFinished", 2)]
    assert failed[0].startswith("worker lost: WorkerCrashedError"), failed
    # The raylet's word comes on its own thread, after the failure: waited for.
    out, err = capsys.readouterr()
    deadline = time.monotonic() + 20
    while "A worker died" not in out + err and time.monotonic() < deadline:
        time.sleep(0.2)
        more = capsys.readouterr()
        out, err = out + more.out, err + more.err
    assert "A worker died" not in out, out
    assert "A worker died" in err


def _title(process: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return " ".join(process.cmdline()).strip()  # Ray's worker titles (setproctitle) may be padded
    return ""


def test_a_ray_cluster_refusing_this_process_for_its_token_says_so_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cluster of this Ray (token authentication on by default, `ray start` or ray.init) joined by --address or
    RAY_ADDRESS from a shell without RAY_AUTH_MODE=token: Ray retries some 30 s, then ray.init raises ConnectionError
    "Failed to connect to Ray cluster at ..." from a RuntimeError whose text holds Ray's AuthenticationError (its
    words as Ray 2.60 wrote them in a trial). The sweep said the cluster "did not answer ... check that the cluster
    runs", exit 75, of a cluster that ran and refused it, and whose rerun fails alike. Now it says the cluster refused
    this process's token and what sets one: exit 2, as a DATABASE_URL whose login the server refuses."""
    import ray

    from llmtrade.errors import UsageError
    from llmtrade.sweep.executors import RayExecutor

    def refused(**options: Any) -> None:
        try:
            raise RuntimeError(
                "Failed to connect to GCS. Last connection error: Traceback (most recent call last):\n  File "
                '"python/ray/includes/common.pxi", line 119, in ray._raylet.check_status\n'
                "ray.exceptions.AuthenticationError: RPC error: InvalidAuthToken: Authentication token is missing or "
                "incorrect. Note: RAY_AUTH_MODE is currently 'disabled' (not 'token'). Ensure that the token for the "
                "cluster is available in a local file (e.g., ~/.ray/auth_token or via RAY_AUTH_TOKEN_PATH) or as the "
                "`RAY_AUTH_TOKEN` environment variable."
            )
        except RuntimeError as exc:
            raise ConnectionError(f"Failed to connect to Ray cluster at {options['address']}") from exc

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refused)
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    with pytest.raises(UsageError) as failed:
        RayExecutor(None)  # type: ignore[arg-type]
    said = str(failed.value)
    assert failed.value.exit_code == 2
    assert "the Ray cluster at 10.0.0.5:6379 (RAY_ADDRESS) refused this process" in said
    assert "RAY_AUTH_MODE=token" in said and "did not answer" not in said


def test_a_run_whose_worker_cannot_write_the_prices_copy_fails_alone_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose temporary folder cannot hold the copy of the prices (full, read-only, TMPDIR naming a file): the
    run failed, and `run` named the copy in its error by asking for the copy again, which raised the same error out of
    `run`. On Ray that came back as RayTaskError: 'worker lost: RayTaskError(NotADirectoryError): ray::run() (pid=...)
    File ...' cut before its last line, exit 75 and retried as a lost worker; on the serial executor, a traceback ending
    the sweep. Now the run fails alone, with the reason (a temporary failure, retried: the folder may come back)."""
    import tempfile

    from llmtrade.sweep import work

    not_a_folder = tmp_path / "tmp"
    not_a_folder.write_text("a file where the temporary folder should be")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_folder))
    path = tmp_path / "sweep.yaml"
    path.write_text("name: one\nranges: [{from: 2026-01-07, to: 2026-01-07}]\n")
    (plan,) = spec.plan(path, spec.read(path), load_config(None), prices="x", csv=True)
    shared = work.Shared(
        settings={}, config_dir=None, config_source="packaged", prices={"SPY.csv": b"date\n"}, prices_hash="a" * 64,
        prices_source="/data/prices",
    )  # fmt: skip
    outcome = work.run(work.RunTask(plan=plan, attempt=1), shared)
    assert outcome.error is not None and outcome.error.startswith("NotADirectoryError"), outcome.error
    assert str(not_a_folder) in outcome.error


def test_a_ray_task_raising_outside_its_run_fails_with_its_reason_not_as_a_worker_lost(
    ray_cluster: None,  # noqa: F811
) -> None:
    """What a Ray task raises outside `run`'s own catch (a node whose llmtrade is missing or another version, so the
    task's arguments do not load there) comes back as RayTaskError, whose text is Ray's traceback first: the run failed
    'worker lost: RayTaskError(ModuleNotFoundError): ray::run() (pid=..., ip=...) File ...', cut before the reason, and
    exit 75 (run the sweep again) as for a worker killed, which no rerun mends. Now its error is the reason, said as
    raised in the Ray worker, and its exit code the reason's (1 for one the table does not know). A real task raising
    on the module's Ray stands for it."""
    import ray

    from llmtrade.sweep.executors import RayExecutor
    from llmtrade.sweep.work import RunTask, Shared

    path_plan = _one_plan()

    def unloadable(task: Any, shared: Any) -> None:
        raise ModuleNotFoundError("No module named 'llmtrade'")

    shared = Shared(settings={}, config_dir=None, config_source="packaged", prices=None, prices_hash="x")
    executor = RayExecutor(shared, workers=2)
    executor._remote = ray.remote(num_cpus=1, max_retries=0)(unloadable)
    try:
        (outcome,) = list(executor.map([RunTask(plan=path_plan, attempt=1)]))
    finally:
        executor.close()
    assert outcome.error is not None
    assert outcome.error.startswith("ModuleNotFoundError: No module named 'llmtrade'"), outcome.error
    assert "in its Ray worker" in outcome.error and "worker lost" not in outcome.error
    assert outcome.code == 1


def _one_plan() -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sweep.yaml"
        path.write_text("name: one\nranges: [{from: 2026-01-07, to: 2026-01-07}]\n")
        (plan,) = spec.plan(path, spec.read(path), load_config(None), prices="synthetic", csv=False)
    return plan


def test_workers_caps_the_runs_at_once_on_a_ray_cluster_joined(ray_cluster: None) -> None:  # noqa: F811
    """`--workers 1 --address auto` on a cluster of two CPUs: the sweep said "on ray (1 worker)" and ran two runs at
    once, every task submitted at the start (Ray runs one per free CPU), so --workers was ignored without a word on a
    cluster joined; a Ray the sweep starts has `workers` CPUs, so there it held. Now no more than `workers` tasks are
    in flight when it is given (without it, the cluster's CPUs decide, as it grows or shrinks). Two real tasks on the
    module's Ray (joined: it runs already), each a second long: one after the other."""
    import ray

    from llmtrade.sweep.executors import RayExecutor
    from llmtrade.sweep.work import RunOutcome, RunTask, Shared

    def timed(task: Any, shared: Any) -> RunOutcome:
        started = time.time()
        time.sleep(1)
        return RunOutcome(run_id=task.plan.run_id, attempt=task.attempt, seconds=started, worker=os.getpid())

    plan = _one_plan()
    shared = Shared(settings={}, config_dir=None, config_source="packaged", prices=None, prices_hash="x")
    executor = RayExecutor(shared, workers=1)
    executor._remote = ray.remote(num_cpus=1, max_retries=0)(timed)
    try:
        outcomes = list(executor.map([RunTask(plan=plan, attempt=1), RunTask(plan=plan, attempt=2)]))
    finally:
        executor.close()
    first, second = sorted(outcome.seconds for outcome in outcomes)
    assert executor.workers == 1
    assert second - first >= 1, (first, second)  # the second began once the first had ended


def test_a_ray_workers_warning_goes_to_the_sweeps_log_file(ray_cluster: None, tmp_path: Path) -> None:  # noqa: F811
    """A run's warning on a Ray worker (a prompt override that leaves something out, said by its container) reached no
    file of the user's: the worker sets no logging up, and its stderr goes to Ray's session logs. Now each task sends
    its worker's warnings to the log file of its sweep's home, as a pool worker does; a worker kept for a later sweep
    writes to that sweep's. Real tasks on the module's Ray."""
    import ray

    from llmtrade.sweep.ray_executor import logged_on_worker
    from llmtrade.sweep.work import RunOutcome, RunTask, Shared

    def warns(task: Any, shared: Any) -> RunOutcome:
        from llmtrade.domain.tracing import log_warning

        log_warning(f"prompt override X leaves out what the packaged one shows the model ({task.attempt})")
        return RunOutcome(run_id=task.plan.run_id, attempt=task.attempt, seconds=0.0, worker=os.getpid())

    remote = ray.remote(num_cpus=1, max_retries=0)(logged_on_worker(warns))
    plan = _one_plan()
    for attempt, home in ((1, tmp_path / "one"), (2, tmp_path / "two")):
        settings = {"LLMTRADE_HOME": str(home)}
        shared = Shared(settings=settings, config_dir=None, config_source="packaged", prices=None, prices_hash="x")
        ray.get(remote.remote(RunTask(plan=plan, attempt=attempt), shared), timeout=60)
    for attempt, home in ((1, tmp_path / "one"), (2, tmp_path / "two")):
        [line] = [json.loads(x) for x in (home / "logs" / "llmtrade.jsonl").read_text().splitlines()]
        assert line["msg"] == "Warned" and line["level"] == "warning"
        assert line["text"].endswith(f"shows the model ({attempt})")
