"""The leaderboard's bootstrap draws made by a spawned worker (analytics/draws.py): arch's own draws, the same
as made in-process, and made in-process when the worker is gone."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from llmtrade.analytics import draws, metrics


def test_a_worker_makes_archs_draws_and_the_intervals_use_them() -> None:
    expected = metrics.arch_indices(60, 4, 300, 7)
    metrics._indices.cache_clear()
    try:
        with draws.drawn_apart():
            worker = draws.current()
            assert worker is not None
            made = worker.indices(60, 4, 300, 7)
            assert made is not None and made.dtype == expected.dtype
            assert np.array_equal(made, expected)
            used = metrics._indices(60, 4, 300, 7)
            assert np.array_equal(used, expected) and not used.flags.writeable
        assert draws.current() is None
    finally:
        metrics._indices.cache_clear()


def test_draws_are_made_in_process_when_the_worker_died() -> None:
    expected = metrics.arch_indices(40, 4, 100, 7)
    metrics._indices.cache_clear()
    try:
        with draws.drawn_apart():
            worker = draws.current()
            assert worker is not None and worker.indices(8, 2, 3, 7) is not None  # started and answering
            for process in list(worker._pool._processes.values()):  # type: ignore[union-attr]
                process.kill()
                process.join()
            assert worker.indices(40, 4, 100, 7) is None
            assert np.array_equal(metrics._indices(40, 4, 100, 7), expected)
    finally:
        metrics._indices.cache_clear()


def test_the_worker_leaves_ctrl_c_to_the_backtest() -> None:
    with draws.drawn_apart():
        worker = draws.current()
        assert worker is not None and worker._pool is not None
        assert worker._pool.submit(signal.getsignal, signal.SIGINT).result() == signal.SIG_IGN


def test_an_import_is_pending_until_arch_is_imported() -> None:
    code = (
        "from llmtrade.analytics import draws; a = draws.import_pending(); import arch.bootstrap; "
        "print(a, draws.import_pending())"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert shown.stdout.split() == ["True", "False"]


@pytest.mark.parametrize("pending", [True, False])
def test_the_backtest_command_makes_its_draws_apart_only_while_arch_is_still_to_be_imported(
    pending: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A process holding arch already (a test session, a program running the command in its own process) gains nothing
    # from a worker's spawn and import: the `leaderboard` and `report` commands' rule, the backtest's too.
    import llmtrade.app.backtest as backtest_module
    from llmtrade.cli import app as cli
    from llmtrade.errors import UsageError
    from tests.test_backtest import runner

    asked: list[bool] = []

    def recorded(*_args: object, draws_apart: bool = False, **_kw: object) -> None:
        asked.append(draws_apart)
        raise UsageError("recorded")

    monkeypatch.setattr(draws, "import_pending", lambda: pending)
    monkeypatch.setattr(backtest_module, "backtest", recorded)
    monkeypatch.setenv("LLMTRADE_HOME", str(tmp_path))
    shown = runner.invoke(cli, ["backtest", "--from", "2026-01-07", "--to", "2026-01-07", "--offline", "--name", "d"])
    assert shown.exit_code == 2 and "recorded" in shown.output
    assert asked == [pending]


def test_without_the_block_no_worker_is_started() -> None:
    with draws.drawn_apart(enabled=False):
        assert draws.current() is None


def test_the_block_ends_by_killing_its_worker_at_once() -> None:
    with draws.drawn_apart():
        worker = draws.current()
        assert worker is not None and worker.indices(8, 2, 3, 7) is not None  # arch imported, draws made
        pid = worker.pid
        assert pid is not None and pid in {p.pid for p in multiprocessing.active_children()}
        started = time.perf_counter()
    # Killed, not asked to exit: an orderly exit of a process holding pandas and scipy takes 0.3-0.7 s.
    assert time.perf_counter() - started < 0.25
    assert pid not in {p.pid for p in multiprocessing.active_children()}
    assert draws.current() is None


def test_a_worker_still_starting_is_killed_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A spawned worker imports pandas, scipy and matplotlib before it answers: on a loaded machine that took so long
    # that a SIGTERM'd backtest, waiting on the worker it did not yet know the pid of, was still running 60 s after
    # the signal (CI). Here the worker's interpreter sleeps 30 s before it begins (a sitecustomize in its path).
    (tmp_path / "sitecustomize.py").write_text(
        "import sys, time\nif '--multiprocessing-fork' in sys.argv:\n    time.sleep(30)\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with draws.drawn_apart():
        worker = draws.current()
        assert worker is not None and worker.pid is not None
        started = time.perf_counter()
    assert time.perf_counter() - started < 5
    assert worker.pid not in {p.pid for p in multiprocessing.active_children()}


def test_a_block_whose_worker_died_ends_cleanly() -> None:
    with draws.drawn_apart():
        worker = draws.current()
        assert worker is not None and worker.indices(8, 2, 3, 7) is not None
        for process in multiprocessing.active_children():
            if process.pid == worker.pid:
                process.kill()
                process.join()
    assert draws.current() is None  # no error and no hang: a dead worker is only joined


def test_the_worker_ends_when_its_parent_is_killed_outright() -> None:
    # SIGKILL (the OOM killer, `timeout -s KILL`) runs no cleanup: the worker, holding both ends of its call queue,
    # waited for work for good, and with it the command's stderr (found by killing a backtest: the worker outlived
    # it). It watches its parent and goes with it.
    script = (
        "import time\n"
        "from llmtrade.analytics.draws import DrawWorker\n"
        "worker = DrawWorker()\n"
        "worker.indices(8, 2, 3, 7)\n"  # started, its watch on this process begun
        "print(worker.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = None
    try:
        child = int(parent.stdout.readline())  # type: ignore[union-attr]
        assert _alive(child)
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        parent.kill()
        parent.wait()
        if child is not None and _alive(child):  # the failure's orphan: not left to the rest of the session
            os.kill(child, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, ended and not yet reaped by init, counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


_CLOSED_WHILE_A_DRAW_IS_SENT = """
import os, threading, time
from llmtrade.analytics.draws import DrawWorker

worker = DrawWorker()
assert worker.indices(8, 2, 3, 7) is not None  # started, arch imported: nothing of that left to answer
pool = worker._pool
reader = pool._result_queue._reader  # CPython's ProcessPoolExecutor: where its manager thread reads answers
let_read = threading.Event()


class Held:
    # The pool's reader held before it reads an answer, until let go: the worker's answer is then written only as far
    # as the pipe holds (64 kB), and the worker is caught in the middle of it.
    def fileno(self):
        return reader.fileno()

    def recv(self):
        let_read.wait()
        return reader.recv()

    def __getattr__(self, name):
        return getattr(reader, name)


pool._result_queue._reader = Held()
worker.ahead(2600, 20, 2000, 7)  # 10 MB of draws, asked ahead, never taken: the backtest stopped
deadline = time.monotonic() + 60
while not reader.poll(0.05):
    assert time.monotonic() < deadline, "no answer began"
closer = threading.Thread(target=worker.close)
closer.start()
worker._process.join(1)  # killed by now, if close kills it while its answer is on its way
let_read.set()
closer.join(30)
print("hung" if closer.is_alive() else "closed", flush=True)
os._exit(0)  # a hung pool's manager thread would hold the interpreter's exit
"""


def test_a_worker_killed_while_writing_draws_when_the_block_ends_does_not_hang_the_way_out() -> None:
    # A worker killed midway through writing an answer (a draw asked ahead, the backtest stopped or ended without it)
    # left the pool's reader waiting for the rest of it for good, and the backtest's way out with it (the pool holds
    # the pipe's writing end itself, so it never ends): as market/paths_ahead.py's worker hung a test.
    shown = subprocess.run(
        [sys.executable, "-c", _CLOSED_WHILE_A_DRAW_IS_SENT], capture_output=True, text=True, timeout=180
    )
    assert shown.stdout.split() == ["closed"], shown.stderr


def test_a_deferred_worker_starts_at_start_worker_and_makes_the_draws_asked_ahead_before() -> None:
    expected = metrics.arch_indices(50, metrics.block_length(50), 200, 7)
    metrics._indices.cache_clear()
    try:
        before = set(multiprocessing.active_children())
        with draws.drawn_apart(deferred=True):
            worker = draws.current()
            assert worker is not None and worker.pid is None
            metrics.draw_ahead([50], reps=200, seed=7)  # queued: no process yet
            assert set(multiprocessing.active_children()) == before and worker._ahead == {}
            draws.start_worker()
            assert worker.pid is not None and (50, metrics.block_length(50), 200, 7) in worker._ahead
            draws.start_worker()  # once only
            assert len(set(multiprocessing.active_children()) - before) == 1
            assert np.array_equal(metrics._indices(50, metrics.block_length(50), 200, 7), expected)
    finally:
        metrics._indices.cache_clear()


def test_a_deferred_worker_never_started_is_started_by_the_first_draws_taken() -> None:
    expected = metrics.arch_indices(30, 3, 50, 7)
    with draws.drawn_apart(deferred=True):
        worker = draws.current()
        assert worker is not None and worker.pid is None
        made = worker.indices(30, 3, 50, 7)
        assert worker.pid is not None and made is not None and np.array_equal(made, expected)


def test_a_deferred_worker_never_started_ends_with_its_block_and_starts_no_process_after() -> None:
    before = set(multiprocessing.active_children())
    with draws.drawn_apart(deferred=True):
        worker = draws.current()
    assert worker is not None
    worker.start()  # closed: nothing is spawned
    assert worker.pid is None and set(multiprocessing.active_children()) == before
