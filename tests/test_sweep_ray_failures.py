"""What a sweep on Ray says of a run Ray failed: each of Ray's errors by its kind, with its reason and that kind's
exit code. Every error but RayTaskError was "worker lost: ..." (exit 75, retried): a worker Ray's memory monitor
killed, a runtime env that could not be set up (retried, though it fails every task alike), a task no node could
take, its data lost with a node. Ray's own exception classes, with the texts Ray gives them (ray/exceptions.py, and
the memory monitor's as a user's report quotes it), are raised by `ray.get`; one task no node can take is a real one
on a real local Ray (test_sweep_backends' fixture)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmtrade.sweep.work import RunOutcome, RunTask, Shared
from tests.test_sweep_backends import SRC, ray_cluster  # noqa: F401 (the fixture, used by name)
from tests.test_sweep_ray_trial import _one_plan

SHARED = Shared(settings={}, config_dir=None, config_source="packaged", prices=None, prices_hash="x")

OOM = (
    "Task was killed due to the node running low on memory.\nMemory on the node (IP: 10.0.0.7, ID: fc2befb2867c) "
    "where the task (task ID: 8bcdf0419748, name=run, pid=4331, memory used=2.22GB) was running was 59.49GB / "
    "62.58GB (0.950744), which exceeds the memory usage threshold of 0.95. Ray killed this worker (ID: d98ac96cdd66) "
    "because it was the most recently scheduled task; to see more information about memory usage on this node, use "
    "`ray logs raylet.out -ip 10.0.0.7`.\nTop 10 memory users:\nPID\tMEM(GB)\tCOMMAND\n4331\t2.22\tray::run"
)


def _errors() -> list[tuple[BaseException, str, int, bool]]:
    from ray import exceptions

    return [
        (exceptions.OutOfMemoryError(OOM), "out of memory (Ray's memory monitor killed its worker): ", 75, False),
        (
            exceptions.RuntimeEnvSetupError("Could not create the runtime env: pip install llmtrade==9.9 failed"),
            "its Ray runtime env could not be set up: ",
            2,
            True,
        ),
        (exceptions.ObjectLostError("a" * 40, None, ""), "its data was lost on the Ray cluster: ", 75, False),
        (exceptions.OwnerDiedError("b" * 40, None, ""), "its data was lost on the Ray cluster: ", 75, False),
        (
            exceptions.TaskUnschedulableError("The node specified via NodeAffinitySchedulingStrategy doesn't exist"),
            "no node of the Ray cluster can run it: ",
            75,
            False,
        ),
        (
            exceptions.NodeDiedError("Task failed due to the node (where this task was running) was dead"),
            "its Ray node was lost: ",
            75,
            False,
        ),
        (exceptions.WorkerCrashedError(), "worker lost: ", 75, False),
        (exceptions.RaySystemError("System error: a Ray internal failure"), "Ray failed it: ", 1, False),
    ]


@pytest.mark.parametrize("index", range(8))
def test_each_ray_error_is_said_by_its_kind_with_its_reason(monkeypatch: pytest.MonkeyPatch, index: int) -> None:
    import ray

    from llmtrade.sweep.executors import RayExecutor

    error, said, code, final = _errors()[index]

    def get(ref: Any) -> RunOutcome:
        raise error

    monkeypatch.setattr(ray, "get", get)
    executor = RayExecutor.__new__(RayExecutor)  # no Ray started: only its handing back of one task is asked
    executor._ray = ray
    executor._running = {"ref": RunTask(plan=_one_plan(), attempt=1)}
    outcome = executor._outcome("ref")
    assert outcome.error is not None
    assert outcome.error.startswith(f"{said}{type(error).__name__}: "), outcome.error
    assert (outcome.code, outcome.final) == (code, final)
    assert " ".join(str(error).split())[:60] in outcome.error  # Ray's reason, on one line
    if code != 75 or not said.startswith("worker lost"):
        assert "worker lost" not in outcome.error


def test_a_run_no_node_can_take_says_so_on_a_real_ray(ray_cluster: None) -> None:  # noqa: F811
    """A task pinned to a node the cluster does not have (NodeAffinitySchedulingStrategy, soft=False): Ray fails it
    with TaskUnschedulableError, which read "worker lost"."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from llmtrade.sweep.executors import RayExecutor
    from llmtrade.sweep.work import run

    executor = RayExecutor(SHARED, workers=2)  # joins the module's Ray
    nowhere = NodeAffinitySchedulingStrategy(node_id="12" * 28, soft=False)
    executor._remote = ray.remote(num_cpus=1, max_retries=0, scheduling_strategy=nowhere)(run)
    try:
        (outcome,) = list(executor.map([RunTask(plan=_one_plan(), attempt=1)]))
    finally:
        executor.close()
    assert outcome.error is not None
    assert outcome.error.startswith("no node of the Ray cluster can run it: TaskUnschedulableError: "), outcome.error
    assert outcome.code == 75


_ZERO_CPU_DRIVER = """
import json, sys
import ray
from llmtrade.sweep import ray_executor
from llmtrade.sweep.executors import RayExecutor
from llmtrade.sweep.work import RunTask, Shared
from tests.test_sweep_ray_trial import _one_plan

ray_executor._NO_CPU_WAIT = 3.0
ray.init(num_cpus=0, object_store_memory=100 * 1024 * 1024, include_dashboard=False, log_to_driver=False)
shared = Shared(settings={}, config_dir=None, config_source="packaged", prices=None, prices_hash="x")
executor = RayExecutor(shared)  # joins the head started above: no CPU, no worker node
try:
    outcomes = list(executor.map([RunTask(plan=_one_plan(), attempt=1), RunTask(plan=_one_plan(), attempt=2)]))
finally:
    executor.close()
    ray.shutdown()
print(json.dumps([o.model_dump() for o in outcomes]))
"""


def test_a_cluster_whose_head_has_no_cpu_and_no_worker_fails_its_runs_after_a_bounded_wait(tmp_path: Path) -> None:
    """A Ray head started with --num-cpus=0 (as Ray's docs advise for a large cluster, the head for Ray's own
    processes) and no worker node joined: no node can run a task of one CPU, and Ray keeps it pending for good (its
    "infeasible" word goes to the cluster's events, not to the task). The sweep waited for ever, saying nothing. Now
    it says what it waits for, on stderr, as soon as it waits, and after a bounded wait (_NO_CPU_WAIT, 3 s here) fails
    each run not done with the reason and what to do, exit 75, not retried in this sweep: it waited already. A real
    head of no CPU, in a process of its own (the old code's wait is ended by the timeout)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, str(Path(__file__).resolve().parents[1])])}
    env.pop("RAY_ADDRESS", None)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _ZERO_CPU_DRIVER], env=env, capture_output=True, text=True, timeout=150
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the sweep waited for a CPU without end: {str(exc.stderr)[-1000:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    outcomes = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(outcomes) == 2
    for outcome in outcomes:
        assert outcome["error"].startswith("no node of the Ray cluster can run it: "), outcome["error"]
        assert "no CPU" in outcome["error"] and "--num-cpus" in outcome["error"]
        assert (outcome["code"], outcome["final"]) == (75, True)
    assert "waiting up to 3 s for a node with a CPU" in done.stderr, done.stderr[-2000:]
