"""`llmtrade backtest sweep` on every executor: the same sweep gives the same leaderboard bytes on serial (one
worker), local processes and Ray (two workers each), and a killed sweep resumes without recomputing its
finished runs.

One sweep file (2 configurations x 2 weeks, offline, synthetic market) under one name; between backends its
databases are dropped, so each backend computes every run itself. Ray is a real local cluster
(`ray.init(num_cpus=2)`), started once for this module.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

import llmtrade
from llmtrade.cli import app as cli
from llmtrade.config.loader import load_config
from llmtrade.settings import Settings
from llmtrade.sweep import work
from llmtrade.sweep.driver import SweepOptions, SweepResult, run_sweep, sweep_database
from tests.support import main_thread_inside

runner = CliRunner()
SRC = str(Path(llmtrade.__file__).resolve().parents[1])
NAME = f"t{uuid.uuid4().hex[:8]}"
SWEEP = f"""
name: {NAME}
retries: 0
ranges:
  - {{from: 2026-01-07, to: 2026-01-14}}
overrides:
  base: {{}}
  tight: {{risk.limits.max_position_pct: 0.05}}
"""


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A real local Ray of two CPUs for this module; its workers import this llmtrade. Not for the session: its
    raylet, GCS and idle workers would go on taking CPU and memory from every later test of this worker."""
    import ray

    ray.init(
        num_cpus=2,
        object_store_memory=100 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": SRC}},
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def place(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Settings, Path]:
    """The module's server URL, settings pointing at a database of its own there, and the sweep file."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    head, _, query = pg_admin_url.partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")
    folder = tmp_path_factory.mktemp("sweep")
    path = folder / "sweep.yaml"
    path.write_text(SWEEP)
    return pg_admin_url, Settings(DATABASE_URL=url, LLMTRADE_HOME=str(folder / "home")), path


def _drop(admin_url: str) -> None:
    """Every database of the sweep (its record and its runs' books): the next backend starts from nothing."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s",
                (sweep_database(NAME), f"llmtrade_bt_{NAME}_%"),
            )
        ]
        for name in names:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _sweep(settings: Settings, path: Path, executor: str, workers: int = 0) -> SweepResult:
    options = SweepOptions(executor=executor, workers=workers)
    return run_sweep(settings, load_config(None), None, path, options)


class _Stop(BaseException):
    """Stands for the sweep being killed (Ctrl-C, OOM): not an Exception, so no run catches it."""


@pytest.fixture(scope="module")
def serial(place: tuple[str, Settings, Path]) -> dict[str, Any]:
    """The sweep on the serial executor, killed after its first run, then run again to the end; every
    execution of a run counted."""
    admin_url, settings, path = place
    _drop(admin_url)
    executed: list[str] = []
    real = work._backtest

    def counting(plan: Any, shared: Any, *, stop_after: int | None = None) -> tuple[dict[str, Any], int, int]:
        if stop_after is not None and len(executed) == stop_after:
            raise _Stop
        executed.append(plan.run_id)
        return real(plan, shared)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(work, "_backtest", lambda plan, shared: counting(plan, shared, stop_after=1))
        with pytest.raises(_Stop):
            _sweep(settings, path, "serial")
        killed = list(executed)
        patch.setattr(work, "_backtest", counting)
        result = _sweep(settings, path, "serial")
    return {"result": result, "killed": killed, "executed": executed}


def test_a_killed_sweep_resumes_without_recomputing_finished_runs(serial: dict[str, Any]) -> None:
    result: SweepResult = serial["result"]
    first = serial["killed"]
    assert len(first) == 1  # the kill came before the second run
    # Two runs in the file, executed twice in all: the one finished before the kill was not run again.
    assert len(serial["executed"]) == 2
    assert serial["executed"][0] == first[0]
    assert serial["executed"][1] != first[0]
    statuses = {r.run_id: r.status for r in result.runs}
    assert statuses[first[0]] == "done_earlier"  # as the table says it ("done earlier"), not "resumed"
    assert sorted(statuses.values()) == ["done_earlier", "finished"]
    assert result.leaderboard.finished == 2
    assert result.failed == 0


def test_the_rerun_of_a_sweep_stopped_inside_a_run_says_it_resumed_it(
    place: tuple[str, Settings, Path], tmp_path: Path
) -> None:
    """A sweep stopped in the middle of a run (Ctrl-C here, in its second of two weeks) and run again: the rerun's
    table said the run "finished", like one computed from its first week, where its backtest resumed after the week
    the stop had kept. Now it says how many weeks were done before (`--json`: resumed_weeks, weeks)."""
    import llmtrade.app.backtest as backtests

    admin_url, settings, _ = place
    name = f"r{uuid.uuid4().hex[:8]}"
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: {name}\nretries: 0\nranges:\n  - {{from: 2026-01-07, to: 2026-01-14}}\n")
    real = backtests.backtest

    def ctrl_c_in_the_second_week(*args: Any, **kwargs: Any) -> Any:
        def progress(p: Any) -> None:
            if p.weeks_done == 1 and p.week_id is not None:
                raise KeyboardInterrupt

        return real(*args, **{**kwargs, "progress": progress})

    env = {"DATABASE_URL": settings.database_url or ""}
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(backtests, "backtest", ctrl_c_in_the_second_week)
            with pytest.raises(KeyboardInterrupt):
                _sweep(settings, path, "serial")
        result = runner.invoke(cli, ["backtest", "sweep", str(path)], env=env)
        assert result.exit_code == 0, result.output
        assert "finished (resumed after 1 of 2 weeks done before)" in result.stdout
        again = runner.invoke(cli, ["backtest", "sweep", str(path), "--json"], env=env)
        (run,) = json.loads(again.stdout)["runs"]
        assert (run["status"], run["resumed_weeks"]) == ("done_earlier", 0)  # not run again: nothing resumed now
        # A run whose backtest ended before the stop let its result be recorded (or that a sweep of the same name
        # running beside this one finished): every week was done, nothing resumed.
        from llmtrade.commands.sweep import _run_row
        from llmtrade.sweep.results import SweepRun

        whole = SweepRun(run_id="a", backtest="b", label="c", status="finished", attempts=1, resumed_weeks=2, weeks=2)
        assert _run_row(whole)[2] == "finished (all 2 weeks done before: its result recorded now)"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for (database,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s",
                (sweep_database(name), f"llmtrade_bt_{name}_%"),
            ).fetchall():
                conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


def test_the_sweep_leaderboard_counts_every_configuration_as_trials(serial: dict[str, Any]) -> None:
    board = serial["result"].leaderboard
    # The packaged config trades 4 PMs and the chairman: 5 trial accounts per run, 2 runs.
    assert board.trials == 10
    assert len(board.rows) == 10
    assert {row.backtest for row in board.rows} == {r.backtest for r in serial["result"].runs}
    # Two weeks are under the 20 daily returns a DSR needs (tests/test_standings_evidence.py deflates a sweep's
    # longer runs for all its trials): n/a, as in each run's own leaderboard.
    assert all(row.standing.dsr is None for row in board.rows)


def test_report_sweep_compares_the_runs_in_one_offline_html_file(
    serial: dict[str, Any], place: tuple[str, Settings, Path], tmp_path: Path
) -> None:
    admin_url, settings, _ = place
    env = {"DATABASE_URL": settings.database_url or ""}
    output = tmp_path / "sweep.html"
    result = runner.invoke(cli, ["report", "--sweep", NAME, "-o", str(output), "--json"], env=env)
    assert result.exit_code == 0, result.output
    page = output.read_text()
    assert json.loads(result.stdout)["bytes"] == len(page.encode())
    # Its two runs of two weeks each (it said 0 weeks).
    assert (json.loads(result.stdout)["runs"], json.loads(result.stdout)["weeks"]) == (2, 4)
    for run in serial["result"].runs:
        assert run.backtest in page
        assert run.label in page
    assert "trials (the deflated Sharpe's N): 10" in page
    assert "<svg" in page  # the Sharpe intervals, inline
    # Nothing fetched, so it works offline: no src, no link out; href and url() only to the SVG's own parts.
    assert not re.search(r"(src=|href=\"(?!#)|url\((?!#))", page)

    # Into a pipe (`-o /dev/stdout`), not renamed over it: found as `report -o /dev/full` replacing the device.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    piped = runner.invoke(cli, ["report", "--sweep", NAME, "-o", str(fifo)], env=env)
    reader.join(timeout=10)
    assert piped.exit_code == 0, piped.output
    assert received == [page.encode()] and stat.S_ISFIFO(fifo.lstat().st_mode)
    assert "2 runs (4 weeks in all)" in piped.stdout

    missing = runner.invoke(cli, ["report", "--sweep", "nosuch", "-o", str(output)], env=env)
    assert missing.exit_code == 2
    assert "no sweep named 'nosuch'" in missing.stderr
    with psycopg.connect(admin_url) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'llmtrade_sw_nosuch'").fetchone() is None


def test_report_sweep_counts_the_runs_it_compares_and_only_their_weeks(
    serial: dict[str, Any], place: tuple[str, Settings, Path], tmp_path: Path
) -> None:
    # The sweep file edited to one of its two runs and a new one never run: the page compares the one run (2 weeks).
    # The line counted every run of the plan and every finished run's weeks, of the plan or not: "2 runs (4 weeks in
    # all)".
    from llmtrade.clock import SystemClock
    from llmtrade.domain import streams
    from llmtrade.domain.events import NewEvent
    from llmtrade.domain.sweeps import SweepStarted
    from llmtrade.storage.bootstrap import open_storage
    from llmtrade.storage.database import locate, sibling

    _, settings, _ = place
    env = {"DATABASE_URL": settings.database_url or ""}
    ids = [r.run_id for r in serial["result"].runs]
    location = sibling(locate(settings), sweep_database(NAME))

    def started(run_ids: list[str]) -> None:
        start = SweepStarted(
            name=NAME, runs=len(run_ids), run_ids=run_ids, trials=10, finished_before=1, executor="serial", workers=1,
            version="test",
        )  # fmt: skip
        with open_storage(settings, SystemClock(), location=location) as storage:
            storage.events.append([NewEvent.of(start, stream=streams.SWEEP)])

    started([ids[0], "f" * 64])
    try:
        result = runner.invoke(cli, ["report", "--sweep", NAME, "-o", str(tmp_path / "one.html"), "--json"], env=env)
        assert result.exit_code == 0, result.output
        assert (json.loads(result.stdout)["runs"], json.loads(result.stdout)["weeks"]) == (1, 2)
    finally:
        started(ids)  # the plan as it was, for the tests after


def test_report_sweep_says_a_run_stopped_part_way_is_begun_and_how_far(
    serial: dict[str, Any], place: tuple[str, Settings, Path], tmp_path: Path
) -> None:
    """A sweep stopped part-way (Ctrl-C, a timeout, a reboot) left a run in the middle of its range, its weeks done
    kept in its own books; the page said it "not run", beside the runs never begun, and so did the trials note, as if
    the rerun would start it afresh. Now it says how far it got and that the rerun resumes it. The plan here: the
    fixture's two finished runs, one stopped after the first of its two weeks (a real backtest given Ctrl-C), one
    never begun."""
    from datetime import date

    from llmtrade.app.backtest import BacktestSpec, backtest
    from llmtrade.clock import SystemClock
    from llmtrade.domain import streams
    from llmtrade.domain.events import NewEvent
    from llmtrade.domain.sweeps import SweepStarted
    from llmtrade.storage.bootstrap import open_storage
    from llmtrade.storage.database import backtest_database, locate, sibling

    admin_url, settings, _ = place
    env = {"DATABASE_URL": settings.database_url or ""}
    ids = [r.run_id for r in serial["result"].runs]
    stopped, idle = "e" * 64, "d" * 64
    location = sibling(locate(settings), sweep_database(NAME))

    def started(run_ids: list[str]) -> None:
        start = SweepStarted(
            name=NAME, runs=len(run_ids), run_ids=run_ids, trials=20, finished_before=2, executor="serial", workers=1,
            version="test",
        )  # fmt: skip
        with open_storage(settings, SystemClock(), location=location) as storage:
            storage.events.append([NewEvent.of(start, stream=streams.SWEEP)])

    def ctrl_c_after_the_first_week(progress: Any) -> None:
        if progress.weeks_done == 1 and progress.week_id is not None:
            raise KeyboardInterrupt

    name = f"{NAME}-{stopped[:12]}"
    spec = BacktestSpec(name=name, first=date(2026, 1, 7), last=date(2026, 1, 14), offline=True, replay=False)
    with pytest.raises(KeyboardInterrupt):
        backtest(settings, load_config(None), None, spec, say=lambda _: None, progress=ctrl_c_after_the_first_week)
    started([*ids, stopped, idle])
    try:
        output = tmp_path / "partial.html"
        result = runner.invoke(cli, ["report", "--sweep", NAME, "-o", str(output)], env=env)
        assert result.exit_code == 0, result.output
        page = output.read_text()
        assert "stopped part-way: 1 of 2 weeks done; run the sweep again to resume it" in page
        assert name in page
        assert page.count(">not run<") == 1  # the one never begun
        assert "though only 2 finished (1 stopped part-way, 1 not run:" in page
    finally:
        started(ids)  # the plan as it was, for the tests after
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{backtest_database(name)}" WITH (FORCE)')


def test_a_configuration_dropped_from_the_file_after_its_result_still_counts_as_a_trial(
    serial: dict[str, Any], place: tuple[str, Settings, Path], tmp_path: Path
) -> None:
    """The sweep's two runs finished; the file is then narrowed to one of them (an axis value removed once the
    results were seen) and run again. The leaderboard deflated for the one run left alone (trials 10 to 5), so its
    DSR rose for picking the better of two. Now the run the earlier file finished counts still, in the sweep's table,
    its --json and report --sweep, and the note says so."""
    _, settings, path = place
    narrowed = tmp_path / "narrowed.yaml"
    narrowed.write_text(SWEEP.replace("  tight: {risk.limits.max_position_pct: 0.05}\n", ""))
    try:
        result = _sweep(settings, narrowed, "serial")
        assert [r.status for r in result.runs] == ["done_earlier"]
        assert result.leaderboard.trials == 10
        assert "of 1 run an earlier version of its file finished (no longer in it)" in result.leaderboard.notes[0]
        env = {"DATABASE_URL": settings.database_url or ""}
        output = tmp_path / "narrowed.html"
        page = runner.invoke(cli, ["report", "--sweep", NAME, "-o", str(output)], env=env)
        assert page.exit_code == 0, page.output
        assert "trials (the deflated Sharpe's N): 10" in output.read_text()
    finally:
        _sweep(settings, path, "serial")  # the file as it was (every run done earlier), for the tests after


def test_local_processes_give_the_serial_leaderboard_bytes(
    serial: dict[str, Any], place: tuple[str, Settings, Path]
) -> None:
    admin_url, settings, path = place
    _drop(admin_url)
    local = _sweep(settings, path, "local", workers=2)
    assert local.executor == "local"
    assert local.workers == 2
    assert [r.status for r in local.runs] == ["finished", "finished"]
    assert local.leaderboard.model_dump_json() == serial["result"].leaderboard.model_dump_json()


def test_ray_gives_the_serial_leaderboard_bytes(
    serial: dict[str, Any], place: tuple[str, Settings, Path], ray_cluster: None
) -> None:
    admin_url, settings, path = place
    _drop(admin_url)
    on_ray = _sweep(settings, path, "ray")
    assert on_ray.executor == "ray"
    assert on_ray.workers == 2  # the session's cluster: two CPUs
    assert [r.status for r in on_ray.runs] == ["finished", "finished"]
    assert on_ray.leaderboard.model_dump_json() == serial["result"].leaderboard.model_dump_json()


def test_a_ray_cluster_that_does_not_answer_is_one_line_and_exit_75(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new user's trial: `--address` of a cluster not there gave Ray's and llmtrade's whole traceback, exit 1. The
    failure is Ray's own (ray.init raises ConnectionError "Failed to connect to Ray cluster" after ~24 s); it is
    raised here at once, and only when no Ray runs in this process."""
    import ray

    from llmtrade.errors import TemporaryError
    from llmtrade.sweep.executors import RayExecutor

    def unreachable(**options: Any) -> None:
        raise ConnectionError(f"Failed to connect to Ray cluster at {options['address']}: timed out")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", unreachable)
    with pytest.raises(
        TemporaryError, match=r"the Ray cluster at 10\.255\.255\.1:6379 \(--address\) did not answer"
    ) as failed:
        RayExecutor(None, address="10.255.255.1:6379")  # type: ignore[arg-type]
    assert failed.value.exit_code == 75


def test_a_run_failing_for_a_bad_file_is_not_retried_and_a_wait_is(
    place: tuple[str, Settings, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from llmtrade.errors import MarketDataMissing, TemporaryError

    admin_url, settings, _ = place
    _drop(admin_url)
    path = tmp_path / "retries.yaml"
    path.write_text(SWEEP.replace("retries: 0", "retries: 2"))
    attempts: list[str] = []

    def failing(plan: Any, shared: Any) -> dict[str, Any]:
        attempts.append(plan.run_id)
        if "tight" in plan.label:
            raise TemporaryError("the database did not answer")
        raise MarketDataMissing("no prices for QQQ: QQQ.csv does not exist")

    monkeypatch.setattr(work, "_backtest", failing)
    result = _sweep(settings, path, "serial")
    assert [r.status for r in result.runs] == ["failed", "failed"]
    counts = {r.label: attempts.count(r.run_id) for r in result.runs}
    assert sorted(counts.values()) == [1, 3], counts  # the missing file once; the wait 1 + 2 retries
    _drop(admin_url)


def _written(admin_url: str, database: str) -> int:
    """The events the books of `database` hold."""
    head, _, query = admin_url.partition("?")
    with psycopg.connect(f"{head.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def test_a_ray_sweep_stopped_by_sigterm_stops_as_a_command_and_ends_its_runs_first(
    pg_admin_url: str, tmp_path: Path, ray_cluster: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ray.init` puts its own SIGTERM handler in the driver (sys.exit(15), ray/_private/worker.py): a sweep on Ray
    given SIGTERM (cron's `timeout`, systemd, `ray job stop`) exited 1 with Ray's "*** SIGTERM received" dump, where
    every command stops with its one line and 143 (Terminated), and its tasks were cancelled without being waited
    for. Now the command's handler is put back after ray.init, and the executor's close returns only once every
    task ended (KeyboardInterrupt in it, then force). This module's Ray is started already, so ray.init is Ray's
    handler alone here. The victim's run is held on a lock in its first query (test_sweep_kill's `_held_sweep`), so
    it never ends by itself; once the executor is closed the lock is let go, and nothing is written to its books."""
    import ray

    from llmtrade.stops import sigterm_as_interrupt, sigterm_received
    from llmtrade.sweep.executors import RayExecutor
    from llmtrade.sweep.work import RunTask
    from tests.test_sweep_kill import _blocked, _held_sweep

    joined: list[dict[str, Any]] = []

    def rays_init(**options: Any) -> None:  # what ray.init does to the driver's SIGTERM, before it connects
        ray._private.utils.set_sigterm_handler(lambda signum, frame: sys.exit(signum))
        joined.append(options)

    monkeypatch.setattr(ray, "is_initialized", lambda: bool(joined))  # Ray's own calls ask it too (auto-init)
    monkeypatch.setattr(ray, "init", rays_init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)  # the module's Ray stays
    victim, other, books, holder, shared = _held_sweep(pg_admin_url, tmp_path)

    def stop_the_driver_once_the_run_is_held() -> None:
        # Once the main thread waits inside the executor's `map`: sent as soon as the run was held, a stop could land
        # while the main thread still started this thread (test_sweep_kill.py's driver-stopped test did, loaded).
        deadline = time.monotonic() + 60
        while (
            not (_blocked(pg_admin_url, books) and main_thread_inside(RayExecutor.map.__code__))
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    with sigterm_as_interrupt():
        executor = RayExecutor(shared, workers=2, address="127.0.0.1:6379")
        try:
            outcomes = executor.map([RunTask(plan=victim, attempt=1), RunTask(plan=other, attempt=1)])
            assert next(outcomes).run_id == other.run_id
            threading.Thread(target=stop_the_driver_once_the_run_is_held, daemon=True).start()
            # The command's stop, not Ray's sys.exit: Ray's wait hands a stop raised in it back as KeyboardInterrupt
            # (Terminated is one), and the command tells SIGTERM by the flag its handler set (exits.py).
            with pytest.raises(KeyboardInterrupt):
                next(outcomes)
            assert sigterm_received()
            executor.close()
            holder.rollback()  # the run's first query may go on now, were its task still there
            time.sleep(3)
            assert _written(pg_admin_url, books) == 0
        finally:
            holder.rollback()
            holder.close()
            executor.close()


def _sigterm_below_python() -> int:
    """The SIGTERM handler the system holds for this process (0: its default action, death), which Python's own
    `signal.getsignal` does not see changed by a library's C code."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    held = ctypes.create_string_buffer(256)  # a struct sigaction; its first field is the handler
    assert libc.sigaction(signal.SIGTERM, None, held) == 0
    return int.from_bytes(held.raw[: ctypes.sizeof(ctypes.c_void_p)], sys.byteorder)


def test_a_ray_sweep_answers_sigterm_after_its_ray_is_shut_down(
    ray_cluster: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ray.shutdown() puts SIGTERM back to the system's default action below Python (signal.getsignal still names
    the command's handler): a SIGTERM landing after the Ray executor closed, while the sweep built its leaderboard or
    printed its table, ended it with exit 143, no line and no table (a trial: SIGTERM 19 s into a 3-run sweep whose
    runs had all just been recorded; also `ray.init(); ray.shutdown(); os.kill(os.getpid(), SIGTERM)` alone). The
    executor now puts the command's handler back after its shutdown. This module's Ray stays up: its shutdown here is
    what Ray's does to the signal, the system's default set below Python."""
    import ctypes

    import ray

    from llmtrade.stops import sigterm_as_interrupt
    from llmtrade.sweep.executors import RayExecutor
    from llmtrade.sweep.work import Shared

    joined: list[dict[str, Any]] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: bool(joined))
    monkeypatch.setattr(ray, "init", lambda **options: joined.append(options))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.signal.restype = ctypes.c_void_p
    monkeypatch.setattr(ray, "shutdown", lambda: libc.signal(signal.SIGTERM, ctypes.c_void_p(0)))
    shared = Shared(settings={}, config_dir=None, config_source="packaged", prices=None, prices_hash="x")
    with sigterm_as_interrupt():
        executor = RayExecutor(shared, workers=2)
        assert joined  # it started "its" Ray, so its close shuts it down
        executor.close()
        assert _sigterm_below_python() != 0  # the command's handler, not death by the default action
        with pytest.raises(KeyboardInterrupt):  # the command's stop: its one line and 143
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)


def test_a_ray_sweep_says_nothing_of_rays_own_start_on_stderr(
    ray_cluster: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`llmtrade -q backtest sweep ... --executor ray` (-q: nothing on success, for cron) wrote Ray's own lines to
    stderr at every start ('WARNING authentication_token_setup.py:85 -- Token authentication is enabled ...',
    'INFO worker.py:2038 -- Started a local Ray instance.'), so cron mailed each successful run. ray.init sets the
    level of its "ray" logger, whose handler writes to stderr, from its `logging_level` (INFO unless given): here as
    ray.init does it (setup_logger), then Ray's two lines logged, its handler's stream read."""
    import io
    import logging

    import ray
    from ray._private import ray_constants
    from ray._private.ray_logging import setup_logger

    from llmtrade.sweep.executors import RayExecutor
    from llmtrade.sweep.work import Shared

    joined: list[dict[str, Any]] = []

    def rays_init(**options: Any) -> None:  # ray/_private/worker.py init: its driver's "ray" logger, then the start
        if options.get("configure_logging", True):
            setup_logger(options.get("logging_level", ray_constants.LOGGER_LEVEL), ray_constants.LOGGER_FORMAT)
        joined.append(options)

    monkeypatch.setattr(ray, "is_initialized", lambda: bool(joined))
    monkeypatch.setattr(ray, "init", rays_init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)  # the module's Ray stays
    rays = logging.getLogger("ray")
    level = rays.level
    said = io.StringIO()
    streams = [
        (handler, handler.setStream(said)) for handler in rays.handlers if isinstance(handler, logging.StreamHandler)
    ]
    assert streams  # Ray's own handler: stderr
    shared = Shared(settings={}, config_dir=None, config_source="packaged", prices=None, prices_hash="x")
    try:
        executor = RayExecutor(shared, workers=2)
        logging.getLogger("ray._private.authentication.authentication_token_setup").warning(
            "Token authentication is enabled for this Ray cluster."
        )
        logging.getLogger("ray._private.worker").info("Started a local Ray instance.")
        executor.close()
        assert joined
        assert said.getvalue() == ""
    finally:
        rays.setLevel(level)
        for handler, stream in streams:
            handler.setStream(stream)
