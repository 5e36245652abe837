"""What a sweep on Ray says of a run Ray failed: each of Ray's errors by its kind, with its reason and that kind's
exit code. Every error but RayTaskError was "worker lost: ..." (exit 75, retried): a worker Ray's memory monitor
killed, a runtime env that could not be set up (retried, though it fails every task alike), a task no node could
take, its data lost with a node. Ray's own exception classes, with the texts Ray gives them (ray/exceptions.py, and
the memory monitor's as a user's report quotes it), are raised by `ray.get`; one task no node can take is a real one
on a real local Ray (test_sweep_backends' fixture)."""

from __future__ import annotations

from typing import Any

import pytest

from llmtrade.sweep.work import RunOutcome, RunTask, Shared
from tests.test_sweep_backends import ray_cluster  # noqa: F401 (the fixture, used by name)
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
