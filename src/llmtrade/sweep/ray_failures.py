"""What a Ray task's failure says of its run (sweep/ray_executor.py `RayExecutor._outcome`): Ray's exception for it,
told by its kind, with its reason and the exit code of that kind.

Every error `ray.get` raised but RayTaskError was a "worker lost" (exit 75, retried): a run killed by Ray's memory
monitor, a job's runtime env that could not be set up, a task no node could be placed on, its data lost with a node,
all read "worker lost: ...", and a runtime env no retry sets up was retried as one. Ray names each by its class
(ray/exceptions.py); the kinds are looked up by name, so a Ray without one of them leaves it to the last kind."""

from __future__ import annotations

from dataclasses import dataclass

from llmtrade.exits import TEMPORARY, classify
from llmtrade.sweep.outcomes import lost
from llmtrade.sweep.work import RunOutcome, RunTask

UNSCHEDULABLE = "no node of the Ray cluster can run it"


@dataclass(frozen=True)
class Kind:
    """A kind of Ray failure: the words the run's error starts with, its exit code, whether a retry may mend it."""

    said: str
    code: int
    final: bool = False


# Ray's exception classes by kind, the first whose class the error is (a subclass included) telling it.
KINDS: tuple[tuple[tuple[str, ...], Kind], ...] = (
    # WorkerCrashedError keeps the words a killed worker always had ("worker lost: WorkerCrashedError ...").
    (("WorkerCrashedError",), Kind("worker lost", TEMPORARY)),
    (("NodeDiedError", "LocalRayletDiedError"), Kind("its Ray node was lost", TEMPORARY)),
    # Ray's memory monitor killed the worker (a task of max_retries=0 has no OOM retry): the node was short of memory,
    # which a later attempt, the node less loaded, may not be.
    (("OutOfMemoryError",), Kind("out of memory (Ray's memory monitor killed its worker)", TEMPORARY)),
    (("ObjectStoreFullError", "OutOfDiskError"), Kind("out of space on its Ray node", TEMPORARY)),
    # The data the task reads (the sweep's shared prices and settings) or returns was lost with the node holding it.
    (("ObjectLostError",), Kind("its data was lost on the Ray cluster", TEMPORARY)),
    # The job's runtime env (`ray job submit --runtime-env-json`: its pip, its working_dir) fails every task alike.
    (("RuntimeEnvSetupError",), Kind("its Ray runtime env could not be set up", 2, final=True)),
    (
        ("TaskUnschedulableError", "TaskPlacementGroupRemoved"),
        Kind(UNSCHEDULABLE, TEMPORARY),
    ),
    (("TaskCancelledError",), Kind("cancelled on the Ray cluster, not by this sweep", TEMPORARY)),
    # Ray's own failure of another kind (RaySystemError, an RPC error): operational, someone has to look.
    (("RayError",), Kind("Ray failed it", 1)),
)


def ray_failure(task: RunTask, exc: BaseException) -> RunOutcome:
    """The outcome of a task whose `ray.get` raised `exc`: a RayTaskError is what the task itself raised (`raised`),
    unless what it raised is Ray's own error of a kind above (a get inside the task); Ray's errors say their kind and
    reason; anything else, the worker lost."""
    names = {klass.__name__ for klass in type(exc).__mro__}
    if "RayTaskError" in names:
        cause = getattr(exc, "cause", None) or exc
        if cause is not exc and _kind(cause) is not None and type(cause).__name__ != "RayError":
            return ray_failure(task, cause)
        return raised(task, cause)
    kind = _kind(exc)
    if kind is None:
        return lost(task, exc)
    return RunOutcome(
        run_id=task.plan.run_id,
        attempt=task.attempt,
        error=f"{kind.said}: {_named(exc)}",
        final=kind.final,
        code=kind.code,
        seconds=0.0,
        worker=0,
    )


def _kind(exc: BaseException) -> Kind | None:
    names = {klass.__name__ for klass in type(exc).__mro__}
    return next((kind for classes, kind in KINDS if names.intersection(classes)), None)


def _named(exc: BaseException) -> str:
    """The class and the reason, on one line: Ray's multi-line texts (OutOfMemoryError's table of the node's top
    memory users, RuntimeEnvSetupError's pip log) cut at 500 characters."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"


def raised(task: RunTask, exc: BaseException) -> RunOutcome:
    """The outcome of a Ray task that raised `exc` outside `run` (its arguments did not load on a node whose llmtrade
    is missing or another version): the reason and its own exit code, as `run` gives them, not a worker lost (75)."""
    failure = classify(exc)
    return RunOutcome(
        run_id=task.plan.run_id,
        attempt=task.attempt,
        error=f"{_named(exc)} (raised in its Ray worker, outside the run)",
        final=failure is not None and failure.code in (1, 2),
        code=failure.code if failure is not None else 1,
        seconds=0.0,
        worker=0,
    )
