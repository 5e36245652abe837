"""A sweep on a Ray of its own stopped (Ctrl-C, SIGTERM) shuts that Ray down before it goes: no GCS, raylet or agent of
it is left behind. A driver killed outright (SIGKILL) cannot: Ray's own fate-sharing ends its processes, and the
raylet's two agents linger about 60 s more (README, Sweeps: Stopping a sweep)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmtrade.sweep.work import Shared
from tests.test_sweep_backends import SRC

SHARED = Shared(settings={}, config_dir=None, config_source="packaged", prices=None, prices_hash="x")

_STOPPED_WHILE_STARTING = """
import os, signal, sys, threading, time
import psutil
from llmtrade.stops import ctrl_c_as_interrupt, sigterm_as_interrupt
from llmtrade.sweep.executors import RayExecutor
from llmtrade.sweep.work import Shared

stop = getattr(signal, sys.argv[1])
shared = Shared(settings={}, config_dir=None, config_source="packaged", prices=None, prices_hash="x")

def stop_once_ray_is_starting():  # its GCS, raylet and helpers begun: ray.init is well under way
    while len(psutil.Process().children(recursive=True)) < 4:
        time.sleep(0.02)
    os.kill(os.getpid(), stop)

threading.Thread(target=stop_once_ray_is_starting, daemon=True).start()
try:
    with sigterm_as_interrupt(), ctrl_c_as_interrupt():
        RayExecutor(shared, workers=1)
        time.sleep(120)
    print("not stopped")
except BaseException as exc:
    print("stopped by", type(exc).__name__, exc.code if isinstance(exc, SystemExit) else "")
    time.sleep(1)
    left = [" ".join(p.cmdline())[:80] for p in psutil.Process().children(recursive=True)
            if p.status() != psutil.STATUS_ZOMBIE]
    print("left", len(left), left)
"""


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT"])
def test_a_sweep_stopped_while_its_ray_starts_stops_as_a_command_and_leaves_no_ray_behind(stop: str) -> None:
    """ray.init puts its own SIGTERM handler in while it starts (sys.exit(15)): a SIGTERM then ended the sweep with
    SystemExit(15), exit 15 and no line, where a command stopped exits 143 with its one line. Whether SIGTERM or
    Ctrl-C, the GCS, raylet and helpers begun so far ran on, the Ray not yet known as one to shut down, until the
    interpreter's exit; they died with it unannounced, and the raylet's agents then lingered a minute. Now the stop is
    the command's (Terminated, KeyboardInterrupt), and what ray.init began is ended before it goes on. A real Ray
    starting, in a process of its own, stopped once its first processes are there."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, str(Path(__file__).resolve().parents[1])])}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-c", _STOPPED_WHILE_STARTING, stop], env=env, capture_output=True, text=True, timeout=150
    )
    said = done.stdout.strip().splitlines()
    assert said, done.stderr[-3000:]
    expected = "Terminated" if stop == "SIGTERM" else "KeyboardInterrupt"
    assert said[0].split()[:3] == ["stopped", "by", expected], (said, done.stderr[-2000:])
    assert said[-1].startswith("left 0 "), said


def test_a_second_stop_waits_for_rays_shutdown_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second Ctrl-C or SIGTERM (a user's second press, `timeout -k`) landing while ray.shutdown() stopped the
    sweep's Ray cut it midway (its raylet or GCS left running without a driver). Now it waits for the shutdown, and
    then stops the command. ray.shutdown here: the stop lands in it, before it ends."""
    import ray

    from llmtrade.stops import Terminated, sigterm_as_interrupt
    from llmtrade.sweep.executors import RayExecutor

    started: list[dict[str, Any]] = []
    ended: list[bool] = []

    def shutdown() -> None:
        signal.raise_signal(signal.SIGTERM)
        ended.append(True)  # Ray's own shutdown went on to its end

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: bool(started))
    monkeypatch.setattr(ray, "init", lambda **options: started.append(options))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 1.0})
    monkeypatch.setattr(ray, "put", lambda value: value)
    monkeypatch.setattr(ray, "shutdown", shutdown)
    with sigterm_as_interrupt():
        executor = RayExecutor(SHARED, workers=1)
        with pytest.raises(Terminated):
            executor.close()
    assert ended == [True]


def test_a_ctrl_c_dropped_in_a_finaliser_while_ray_starts_stops_the_sweep_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Ctrl-C that lands in a finaliser while ray.init runs is raised where Python can only drop it: the sweep went
    on starting as if none came (the real-Ray test above printed "not stopped" in a full run). Now it stops there, as
    a Ctrl-C raised in ray.init does. ray.init here: a finaliser raising KeyboardInterrupt as it runs."""
    import ray

    from llmtrade.stops import sigterm_as_interrupt
    from llmtrade.sweep.executors import RayExecutor

    started: list[dict[str, Any]] = []
    shut: list[bool] = []

    class Finalised:
        def __del__(self) -> None:
            raise KeyboardInterrupt

    def init(**options: Any) -> None:
        started.append(options)
        Finalised()  # dropped at once: its finaliser runs here

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: bool(started) and not shut)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 1.0})
    monkeypatch.setattr(ray, "put", lambda value: value)
    monkeypatch.setattr(ray, "shutdown", lambda: shut.append(True))
    with sigterm_as_interrupt(), pytest.raises(KeyboardInterrupt):
        RayExecutor(SHARED, workers=1)
    assert started and shut == [True]  # what ray.init began is ended before the stop goes on
