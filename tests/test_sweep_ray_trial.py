"""A sweep on Ray as a user with a real Ray install meets it: a cluster named by RAY_ADDRESS, and a worker
process killed in the middle of its run. Ray is a real local one of two CPUs (test_sweep_backends' fixture),
started once for this module."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from tests.test_sweep_backends import SRC, ray_cluster  # noqa: F401 (the fixture, used by name)


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
