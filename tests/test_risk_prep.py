"""The risk gate's work for the PM and FLAT accounts (risk_prep) runs alongside the chairman's round trip, and
still nothing is planned for good or sent before the chairman has decided. `run-weekly` offline, on a real
PostgreSQL, with the chairman's stage slowed or failed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.errors import OperationalError
from llmtrade.workflows import committee_stages, execution, week_gate
from tests.support import WEDNESDAY_8AM, stored_events

runner = CliRunner()
CHAIRMAN_SECONDS = 1.5  # wide enough that five slowed sizings finish inside it on a loaded 2-core CI machine
PLAN_SECONDS = 0.05  # each account's sizing made slow enough that the chairman's start falls among them


def test_the_pm_and_flat_accounts_are_sized_during_the_chairmans_call_and_no_order_goes_before_the_decision(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, list[tuple[float, str]]] = {"chairman": [], "plan": [], "ready": [], "send": []}
    chairman_run = committee_stages.ChairmanStage.run
    plan = week_gate.WeekGate.plan
    ready = week_gate.WeekGate.ready
    send = execution._send

    async def slow_chairman(self: Any, context: Any) -> Any:
        seen["chairman"].append((time.perf_counter(), "start"))
        await asyncio.sleep(CHAIRMAN_SECONDS)  # the model's round trip
        try:
            return await chairman_run(self, context)
        finally:
            seen["chairman"].append((time.perf_counter(), "end"))

    def timed_plan(self: Any, desk: Any, *args: Any, **kw: Any) -> Any:
        on_loop = threading.current_thread() is threading.main_thread()
        seen["plan"].append((time.perf_counter(), f"{desk.account.role.value}:{'loop' if on_loop else 'thread'}"))
        time.sleep(PLAN_SECONDS)
        return plan(self, desk, *args, **kw)

    def timed_ready(self: Any, desk: Any, *args: Any, **kw: Any) -> Any:
        on_loop = threading.current_thread() is threading.main_thread()
        seen["ready"].append((time.perf_counter(), f"{desk.account.role.value}:{'loop' if on_loop else 'thread'}"))
        return ready(self, desk, *args, **kw)

    def timed_send(broker: Any, order: Any) -> Any:
        seen["send"].append((time.perf_counter(), order.account_id))
        return send(broker, order)

    monkeypatch.setattr(committee_stages.ChairmanStage, "run", slow_chairman)
    monkeypatch.setattr(week_gate.WeekGate, "plan", timed_plan)
    monkeypatch.setattr(week_gate.WeekGate, "ready", timed_ready)
    monkeypatch.setattr(execution, "_send", timed_send)
    result = runner.invoke(app, ["run-weekly"])
    assert result.exit_code == 0, result.output
    (started, _), (ended, _) = seen["chairman"]
    early = [(t, who) for t, who in seen["plan"] if not who.startswith("chairman")]
    late = [(t, who) for t, who in seen["plan"] if who.startswith("chairman")]
    assert len(early) == 5 and len(late) == 1  # four PMs and the FLAT baseline; the chairman's account
    # Alongside the chairman's call (started with it, done before its answer), on a worker thread; the chairman's
    # account only once it has decided.
    assert all(t < ended and who.endswith(":thread") for t, who in early), (started, ended, early)
    assert max(t for t, _ in early) > started  # the chairman did not wait for them
    assert late[0][0] > ended
    # The chairman's account is reconciled and valued alongside the call too, once: only its sizing waits.
    chair_ready = [(t, who) for t, who in seen["ready"] if who.startswith("chairman")]
    assert len(chair_ready) == 1 and chair_ready[0][1].endswith(":thread") and chair_ready[0][0] < ended
    assert seen["send"] and min(t for t, _ in seen["send"]) > late[0][0]


def test_a_run_whose_chairman_fails_plans_and_sends_nothing_and_its_rerun_values_each_account_once(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_chairman(self: Any, context: Any) -> Any:
        await asyncio.sleep(0.05)
        raise OperationalError("the chairman's model refused the request")

    monkeypatch.setattr(committee_stages.ChairmanStage, "run", failing_chairman)
    failed = runner.invoke(app, ["run-weekly"])
    assert failed.exit_code == 1, failed.output
    kinds = Counter(e.type for e in stored_events(wednesday_week))
    assert kinds["OrdersPlanned"] == kinds["RiskChecked"] == 0  # the week's plan is frozen only after a decision
    assert kinds["OrderSubmitted"] == kinds["PaperOrderAccepted"] == 0
    # The prepared accounts' end is on record (risk_prep joined before the run failed).
    ends = {e.payload["stage"] for e in stored_events(wednesday_week, type="StageCompleted")}
    assert "risk_prep" in ends and "risk_gate" not in ends

    monkeypatch.undo()
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    monkeypatch.setenv("DATABASE_URL", wednesday_week)
    again = runner.invoke(app, ["run-weekly"])
    assert again.exit_code == 0, again.output
    valued = Counter(
        AccountValued.from_event(e).account_id
        for e in stored_events(wednesday_week, type=AccountValued.event_type())
        if AccountValued.from_event(e).occasion == "week start"
    )
    assert len(valued) == 6 and set(valued.values()) == {1}  # every account, once, whichever run got there first
    assert Counter(e.type for e in stored_events(wednesday_week))["OrdersPlanned"] == 5


def test_each_account_is_looked_at_once_for_its_reconciliation_queue_check_and_valuation(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a checkpoint does: one look at the broker (account, open orders, fills) per account at the week's start,
    # not one for the reconciliation, another for the queue check and a third for the valuation.
    from llmtrade.brokers.paper import PaperBroker

    inside = threading.local()
    reads: Counter[str] = Counter()
    ready = week_gate.WeekGate.ready

    def counted_ready(self: Any, desk: Any, *args: Any, **kw: Any) -> Any:
        inside.on = True
        try:
            return ready(self, desk, *args, **kw)
        finally:
            inside.on = False

    def counting(name: str) -> Any:
        method = getattr(PaperBroker, name)

        def read(self: Any, *args: Any, **kw: Any) -> Any:
            if getattr(inside, "on", False):
                reads[name] += 1
            return method(self, *args, **kw)

        return read

    monkeypatch.setattr(week_gate.WeekGate, "ready", counted_ready)
    for name in ("look_at", "account", "open_orders", "fills"):
        monkeypatch.setattr(PaperBroker, name, counting(name))
    result = runner.invoke(app, ["run-weekly"])
    assert result.exit_code == 0, result.output
    assert reads == Counter({"look_at": 6})  # six accounts, one look each
    valued = [AccountValued.from_event(e) for e in stored_events(wednesday_week, type="AccountValued")]
    assert len(valued) == 6
