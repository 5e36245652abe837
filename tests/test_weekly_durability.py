"""When run-weekly's commits wait for the disk (workflows/weekly.py WeeklyPipeline, EventStore.defer_flush): not
between the snapshot and the decision, nor the risk gate's records before its plan; the frozen plan's commit
always (it puts every earlier record on disk before any order goes); not the stage events after it nor the
orders' records one by one; the run's end always, whether the run finished or failed. `run-weekly` offline on a
real PostgreSQL, the setting read on the run's own connection at each point."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.app import runs
from llmtrade.cli import app
from llmtrade.errors import OperationalError
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows import committee_stages, execution, execution_stage

runner = CliRunner()


def _waits(events: Any) -> str:
    """The run connection's synchronous_commit: "on" when a commit waits for the disk."""
    return events._conn.execute("SHOW synchronous_commit").fetchone()[0]


def _watch(monkeypatch: pytest.MonkeyPatch, seen: dict[str, list[str]], *, chairman_fails: bool = False) -> None:
    chairman_run = committee_stages.ChairmanStage.run
    execution_run = execution_stage.ExecutionStage.run
    send = execution._send
    finished, failed = runs.RunLog.finished, runs.RunLog.failed
    append = EventStore.append
    store: list[Any] = []

    def appending(self: Any, events: Any, **kw: Any) -> Any:
        if any(e.type == "OrdersPlanned" for e in events):
            seen["plan"].append(_waits(self))
        elif any(e.type == "AccountValued" for e in events) and store and not seen["plan"]:
            seen["valued"].append(_waits(self))  # accounts valued once the chairman has begun, before the plan
        return append(self, events, **kw)

    async def chairman(self: Any, context: Any) -> Any:
        store.append(self.events)
        seen["chairman"].append(_waits(self.events))
        if chairman_fails:
            raise OperationalError("the chairman's model refused the request")
        return await chairman_run(self, context)

    async def executing(self: Any, context: Any) -> Any:
        seen["execution"].append(_waits(self.events))
        return await execution_run(self, context)

    def sending(broker: Any, order: Any) -> Any:
        seen["send"].append(_waits(store[0]))
        return send(broker, order)

    def at_end(original: Any, name: str) -> Any:
        def recorded(self: Any, *args: Any, **kw: Any) -> Any:
            if self.command == "run-weekly":
                seen[name].append(_waits(self._events))
            return original(self, *args, **kw)

        return recorded

    monkeypatch.setattr(committee_stages.ChairmanStage, "run", chairman)
    monkeypatch.setattr(execution_stage.ExecutionStage, "run", executing)
    monkeypatch.setattr(execution, "_send", sending)
    monkeypatch.setattr(runs.RunLog, "finished", at_end(finished, "finished"))
    monkeypatch.setattr(runs.RunLog, "failed", at_end(failed, "failed"))
    monkeypatch.setattr(EventStore, "append", appending)


def _seen() -> dict[str, list[str]]:
    """Per watched point, the synchronous_commit setting each visit saw ("on" or "off")."""
    return {name: [] for name in ("chairman", "valued", "plan", "execution", "send", "finished", "failed")}


def test_commits_are_deferred_but_the_plans_and_the_runs_end_wait_for_the_disk(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _seen()
    _watch(monkeypatch, seen)
    result = runner.invoke(app, ["run-weekly"])
    assert result.exit_code == 0, result.output
    assert seen["chairman"] == ["off"]
    assert seen["plan"] == ["on"]  # the plan and every record before it are on disk before the first order
    assert seen["valued"] and set(seen["valued"]) == {"off"}  # made durable by the plan's commit, not one by one
    assert seen["execution"] == ["off"] and seen["send"] and set(seen["send"]) == {"off"}
    assert seen["finished"] == ["on"] and seen["failed"] == []


def test_a_run_that_fails_before_the_risk_gate_records_its_failure_with_commits_waited_for_again(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _seen()
    _watch(monkeypatch, seen, chairman_fails=True)
    result = runner.invoke(app, ["run-weekly"])
    assert result.exit_code == 1, result.output
    assert seen["chairman"] == ["off"] and seen["plan"] == seen["execution"] == seen["send"] == []
    assert seen["failed"] == ["on"]
