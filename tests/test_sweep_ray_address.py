"""What `--address` and RAY_ADDRESS mean to a sweep on Ray, as they mean to Ray itself (ray.init's docs,
ray/_private/services.py canonicalize_bootstrap_address): an address joins that cluster, `auto` the one `ray start`
ran here, and `local` starts a new local Ray even beside one already running. ray.init is replaced by a recorder: no
Ray starts."""

from __future__ import annotations

from typing import Any

import pytest

from llmtrade.sweep.work import Shared

SHARED = Shared(settings={}, config_dir=None, config_source="packaged", prices=None, prices_hash="x")


def _started_with(monkeypatch: pytest.MonkeyPatch, **given: Any) -> dict[str, Any]:
    import ray

    from llmtrade.sweep.executors import RayExecutor

    started: list[dict[str, Any]] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: bool(started))
    monkeypatch.setattr(ray, "init", lambda **options: started.append(options))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": float(given.get("workers") or 1)})
    monkeypatch.setattr(ray, "put", lambda value: value)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    RayExecutor(SHARED, **given).close()
    return started[0]


@pytest.mark.parametrize("named_by", ["--address", "RAY_ADDRESS"])
def test_address_local_starts_a_ray_of_the_sweeps_own_as_ray_does(
    monkeypatch: pytest.MonkeyPatch, named_by: str
) -> None:
    """`--address local` (or RAY_ADDRESS=local) is Ray's word for "start a new local Ray instance", not a cluster's
    address. The sweep took it for a cluster to join: ray.init(address="local") without num_cpus (every CPU of the
    machine, whatever --workers said) and without the runtime env whose PYTHONPATH lets the local workers import the
    llmtrade this driver runs (a checkout's), and its failure to start read "the Ray cluster at local (--address) did
    not answer". Now it is the sweep's own Ray, as with no address at all."""
    if named_by == "RAY_ADDRESS":
        monkeypatch.setenv("RAY_ADDRESS", "local")
        options = _started_with(monkeypatch, workers=2)
    else:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
        options = _started_with(monkeypatch, workers=2, address="local")
    assert options["address"] == "local"
    assert options["num_cpus"] == 2
    assert "PYTHONPATH" in options["runtime_env"]["env_vars"]


def test_a_local_ray_that_does_not_start_is_said_so_not_as_a_cluster_that_did_not_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ray

    from llmtrade.errors import TemporaryError
    from llmtrade.sweep.executors import RayExecutor

    def fails(**options: Any) -> None:  # ray.init's own failure to start the processes of a new Ray
        raise ConnectionError("Failed to start the GCS server")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fails)
    with pytest.raises(TemporaryError, match=r"^the sweep's local Ray did not start \(Failed to start the GCS"):
        RayExecutor(SHARED, address="local")


def test_an_address_joins_the_cluster_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    options = _started_with(monkeypatch, address="10.0.0.5:6379")
    assert options["address"] == "10.0.0.5:6379"
    assert "num_cpus" not in options  # Ray refuses num_cpus when it joins a cluster


@pytest.mark.parametrize(
    ("address", "named_by", "reason"),
    [
        ("http://127.0.0.1:8265", "RAY_ADDRESS", "It looks like you set RAY_ADDRESS to an HTTP address"),
        ("10.0.0.5", "--address", "Invalid address format: 10.0.0.5"),
    ],
)
def test_an_address_ray_refuses_is_one_line_naming_it_exit_2(
    monkeypatch: pytest.MonkeyPatch, address: str, named_by: str, reason: str
) -> None:
    """An address ray.init refuses before it connects raises Ray's ValueError: the dashboard's http://HEAD:8265 (the
    address `ray job submit` takes, easily given to RAY_ADDRESS too), a host with no port. The sweep let it through:
    a traceback and exit 1. Now it is a usage error naming the address, where it was given and Ray's reason. Ray's
    own ray.init, which refuses these at once."""
    from llmtrade.errors import UsageError
    from llmtrade.sweep.executors import RayExecutor

    if named_by == "RAY_ADDRESS":
        monkeypatch.setenv("RAY_ADDRESS", address)
        given: dict[str, Any] = {}
    else:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
        given = {"address": address}
    with pytest.raises(UsageError) as refused:
        RayExecutor(SHARED, **given)
    said = str(refused.value)
    assert said.startswith(f"the Ray address {address} ({named_by}) cannot be used: "), said
    assert reason in said and "\n" not in said
    assert refused.value.exit_code == 2
