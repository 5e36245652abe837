"""A Ctrl-C (or SIGTERM) landing while a helper process is spawned (analytics/draws.py, market/paths_ahead.py) leaves
no traceback of the helper's on the command's stderr, and no helper behind: the signal waits for the spawn
(worker_process.py). Found by a new user's trial: a backtest stopped in its first second said its stop's line, then
"EOFError: Ran out of input" from a child that never got its start-up data."""

from __future__ import annotations

import contextlib
import multiprocessing.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmtrade.analytics.draws import DrawWorker
from llmtrade.market.intraday_path import plan_keys
from llmtrade.market.paths_ahead import PathsAhead
from tests.test_backtest_speedups import _bars


def _draws() -> object:
    worker = DrawWorker(deferred=True)
    try:
        worker.start()
    finally:
        worker.close()
    return worker


def _paths() -> object:
    ahead = PathsAhead([plan_keys(_bars()[:4], 390, "7")])
    ahead.close()
    return ahead


def on_each_spawn(monkeypatch: pytest.MonkeyPatch, then: Callable[[int], None]) -> list[int]:
    """The pids of the processes multiprocessing spawns from here on (not its resource tracker), `then` called with
    each as soon as it is spawned."""
    real = multiprocessing.util.spawnv_passfds
    spawned: list[int] = []

    def spawn(path: Any, args: list[Any], passfds: Any) -> int:
        pid = real(path, args, passfds)
        if any("spawn_main" in str(arg) for arg in args):
            spawned.append(pid)
            then(pid)
        return pid

    monkeypatch.setattr(multiprocessing.util, "spawnv_passfds", spawn)
    return spawned


def ctrl_c_while_it_starts(pid: int) -> None:
    """The group's Ctrl-C as it reaches child `pid` while it starts: once it answers SIGINT at all."""
    end = time.monotonic() + 60
    while not _answers_sigint(pid) and time.monotonic() < end:
        time.sleep(0.001)
    os.kill(pid, signal.SIGINT)


def _ended(pid: int) -> None:
    """Wait for child `pid` to end (reaped already by the helper's stop: nothing to wait for)."""
    with contextlib.suppress(ChildProcessError):
        end = time.monotonic() + 120
        while os.waitpid(pid, os.WNOHANG) == (0, 0) and time.monotonic() < end:
            time.sleep(0.05)


@pytest.mark.parametrize("start", [_draws, _paths], ids=["draws worker", "paths worker"])
def test_a_ctrl_c_as_a_helper_is_spawned_leaves_no_traceback_of_it(
    start: Callable[[], object], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # A real Ctrl-C to this process, before the child is sent its start-up data.
    spawned = on_each_spawn(monkeypatch, lambda _pid: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        start()
    assert spawned
    for pid in spawned:
        _ended(pid)
    # Before: the child read an empty pipe and printed its traceback ("EOFError: Ran out of input").
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(("signum", "stop"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, "Terminated")])
def test_a_block_that_fails_after_a_held_stop_ends_in_the_stop_raised_from_its_failure(
    signum: signal.Signals, stop: object
) -> None:
    """A terminal's Ctrl-C reaches a child the held block waits for (initdb): its failure is the stop's doing, and the
    command's answer is the stop's (exit 130/143), not the child's failure (exit 1)."""
    from llmtrade import stops

    expected = stops.Terminated if stop == "Terminated" else KeyboardInterrupt
    try:
        with stops.sigterm_as_interrupt(), pytest.raises(expected) as raised, stops.signals_held():
            signal.raise_signal(signum)  # held: the block goes on
            raise RuntimeError("the child was stopped too")
    finally:
        stops._TERM_RECEIVED.clear()  # this test's SIGTERM, not a later test's command's
    assert isinstance(raised.value.__cause__, RuntimeError)
    # Without a stop, the failure itself; a stop whose handler raises nothing (ignored) leaves the failure too.
    with pytest.raises(RuntimeError), stops.signals_held():
        raise RuntimeError("a failure of its own")
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(RuntimeError), stops.signals_held():
            signal.raise_signal(signal.SIGINT)
            raise RuntimeError("ignored stop")
    finally:
        signal.signal(signal.SIGINT, previous)


def _answers_sigint(pid: int) -> bool:
    """Whether process `pid` has SIGINT blocked, ignored or caught yet (/proc/PID/status): Python catches it from its
    first moments, before a helper's initializer runs."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
        status = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
    except OSError:
        return True  # gone already: nothing more to wait for
    return any(int(status.get(key, "0"), 16) & (1 << (signal.SIGINT - 1)) for key in ("SigBlk", "SigIgn", "SigCgt"))


@pytest.mark.parametrize("start", [_draws, _paths], ids=["draws worker", "paths worker"])
def test_a_ctrl_c_reaching_a_starting_helper_leaves_no_traceback_of_it(
    start: Callable[[], object], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A terminal's Ctrl-C reaches the whole process group, the helpers too. One still importing (its initializer,
    which ignores Ctrl-C, not run yet) printed "Traceback ... File "<string>", line 1, in <module>" and its
    KeyboardInterrupt after the command's one line (a new user's trial: a sweep stopped as a run's paths worker
    started). The helper now starts with Ctrl-C and SIGTERM blocked (worker_process.spawning)."""
    spawned = on_each_spawn(monkeypatch, ctrl_c_while_it_starts)
    start()
    assert spawned
    for pid in spawned:
        _ended(pid)
    assert "Traceback" not in capfd.readouterr().err


def test_a_helper_starts_with_the_stops_blocked_in_a_process_that_never_spawned_before(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaching a helper while Python still imported (its spawn_main unpickling, long before the
    initializer) printed its KeyboardInterrupt traceback after the command's line: `report` and `leaderboard` stopped
    within their first second (a new user's trial, 3 of 30 tries). Their draws worker was a process's first spawn:
    multiprocessing started its resource tracker then, and unblocked SIGINT and SIGTERM after it, so the worker started
    with them unblocked. Run in a process of its own: the test session's tracker runs already."""
    script = tmp_path / "first_spawn.py"
    script.write_text(
        "import multiprocessing, signal\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from llmtrade.worker_process import spawning\n"
        "if __name__ == '__main__':\n"
        "    with spawning():\n"
        "        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn'))\n"
        "        asked = pool.submit(signal.pthread_sigmask, signal.SIG_BLOCK, [])  # no initializer: as it started\n"
        "    print(sorted(int(s) for s in asked.result(timeout=60)))\n"
        "    pool.shutdown()\n"
    )
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=120)
    assert ran.stdout.strip() == str(sorted([int(signal.SIGINT), int(signal.SIGTERM)])), ran.stderr


def test_a_process_killed_outright_with_a_helper_running_leaves_no_resource_tracker_warning() -> None:
    """Found in a new user's trial: a backtest killed with SIGKILL mid-way left, after the shell's prompt,
    "resource_tracker.py:254: UserWarning: resource_tracker: There appear to be 5 leaked semaphore objects to clean up
    at shutdown" and its source line: multiprocessing's resource tracker outlives the process and says what it
    cleans up. Nothing is lost (the next start resumes); the tracker still cleans them up, and says nothing."""
    code = (
        "import os, signal\n"
        "from llmtrade.market.intraday_path import plan_keys\n"
        "from llmtrade.market.paths_ahead import PathsAhead\n"
        "from tests.test_backtest_speedups import _bars\n"
        "ahead = PathsAhead([plan_keys(_bars()[:4], 390, '7')])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    root = Path(__file__).resolve().parent.parent
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root, check=False
    )
    assert ran.returncode == -signal.SIGKILL, ran.stderr
    assert "leaked semaphore" not in ran.stderr and "UserWarning" not in ran.stderr, ran.stderr


def test_a_process_killed_outright_with_a_pool_running_leaves_no_resource_tracker_warning() -> None:
    """The same for a sweep's pool (sweep/executors.py): a ProcessPoolExecutor starts the tracker as it is made (its
    queues' semaphores), before any spawn, and a sweep driver killed outright printed the warning all the same (the
    CI run that found it: test_sweep_kill's driver, its teardown's stderr)."""
    code = (
        "import os, signal\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from llmtrade.worker_process import spawn_context\n"
        "pool = ProcessPoolExecutor(1, mp_context=spawn_context())\n"
        "pool.submit(abs, -1).result(timeout=60)\n"
        "for worker in list(pool._processes.values()):\n"  # a plain pool's workers wait for work: killed first
        "    os.kill(worker.pid, signal.SIGKILL)\n"
        "    worker.join(timeout=30)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert ran.returncode == -signal.SIGKILL, ran.stderr
    assert "leaked semaphore" not in ran.stderr and "UserWarning" not in ran.stderr, ran.stderr
