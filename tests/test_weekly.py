"""`llmtrade run-weekly` end to end on a real PostgreSQL: offline run, resume, idempotence, locking,
degraded PMs, dry runs and the live-endpoint refusal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import WeekCompleted
from llmtrade.domain.trading import OrderSubmitted, PaperOrderAccepted
from llmtrade.workflows import (
    committee_stages,
    execution,
    execution_stage,
    memory_stages,
    research_stages,
    trading_stages,
)
from tests.fakes.committee_answers import grok_cannot_pitch
from tests.support import WEDNESDAY_8AM, going_live, stored_events

runner = CliRunner()


def _count(url: str) -> Counter[str]:
    return Counter(e.type for e in stored_events(url))


def test_offline_run_has_4_pitches_12_reviews_a_decision_the_gate_and_orders_for_every_non_flat_account(
    wednesday_week: str,
) -> None:
    result = runner.invoke(app, ["run-weekly", "--json"])
    assert result.exit_code == 0, result.output
    assert "OFFLINE MODE" in result.stderr
    report = json.loads(result.stdout)
    assert len(report["pitches"]) == 4
    assert sum(len(row) for row in report["review_matrix"].values()) == 12
    assert report["decision"]["instrument"] and report["market"]["synthetic"] is True
    assert len(report["risk"]) == 5  # four PMs and the chairman; the FLAT baseline has no intent
    accounts_with_orders = {o["account_id"] for o in report["orders"]}
    non_flat = {p["account"] for p in report["pitches"] if p["direction"] != "FLAT"}
    if report["decision"]["direction"] != "FLAT":
        non_flat.add("acct_5")
    assert accounts_with_orders == non_flat
    assert "acct_6" not in accounts_with_orders
    assert all(o["status"] == "accepted" and o["broker"] == "paper" for o in report["orders"])  # queued for the open
    counts = _count(wednesday_week)
    assert (counts["PitchSubmitted"], counts["ReviewSubmitted"], counts["DecisionMade"]) == (4, 12, 1)
    assert counts["RiskChecked"] == 5 and counts["OrderSubmitted"] == len(report["orders"])
    assert counts["LLMCallCompleted"] == 2 + 4 + 12 + 1
    assert counts["WeekCompleted"] == 1


def test_a_second_run_of_the_same_week_adds_nothing(wednesday_week: str) -> None:
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    before = _count(wednesday_week)
    again = runner.invoke(app, ["run-weekly"])
    assert again.exit_code == 0
    assert "week 2026-01-07 is already complete" in again.stdout and "nothing to do" in again.stdout
    assert "at 2026-01-07T08:00:00-05:00): nothing to do" in again.stdout  # New York, to the second (a README check)
    assert "OFFLINE MODE: rules provider" in again.stderr  # the mode said first, as by every command (it was not)
    assert _count(wednesday_week) == before


ALL_STAGES = [
    "market_snapshot",
    "recall_ahead",
    "research",
    "recall",
    "remember_research",
    "pitches",
    "remember_pitches",
    "validator",
    "peer_review",
    "risk_prep",
    "chairman",
    "remember_decision",
    "risk_gate",
    "execution",
]
# Where the run is killed: after each stage that stores something. recall_ahead, recall, validator and risk_prep
# store nothing of their own; a rerun reports them loaded once the stage they feed (pitches, chairman, risk gate)
# is stored.
STAGES = [s for s in ALL_STAGES if s not in ("recall_ahead", "recall", "validator", "risk_prep")]
# The stage whose stored output makes each of those report loaded.
FED = {"recall_ahead": "pitches", "recall": "pitches", "validator": "chairman", "risk_prep": "risk_gate"}
STAGE_CLASSES = {
    "market_snapshot": research_stages.MarketSnapshotStage,
    "research": research_stages.ResearchStage,
    "remember_research": memory_stages.RememberResearchStage,
    "pitches": committee_stages.PitchStage,
    "remember_pitches": memory_stages.RememberPitchesStage,
    "peer_review": committee_stages.ReviewStage,
    "chairman": committee_stages.ChairmanStage,
    "remember_decision": memory_stages.RememberDecisionStage,
    "risk_gate": trading_stages.RiskStage,
    "execution": execution_stage.ExecutionStage,
}


@pytest.mark.parametrize("completed", STAGES)
def test_a_run_killed_after_a_stage_resumes_without_repeating_stages_or_orders(
    wednesday_week: str, completed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run dies right after `completed` finished; the rerun does the rest, once."""
    index = STAGES.index(completed)
    if index + 1 < len(STAGES):
        victim = STAGE_CLASSES[STAGES[index + 1]]
        monkeypatch.setattr(victim, "run", _killed)
        if issubclass(victim, memory_stages._MemoryStage):
            # Killed as it starts: alongside, its turn may come only after the stages after it have run.
            monkeypatch.setattr(
                victim, "overlaps", property(lambda self: False, lambda self, value: None), raising=False
            )
        crashed = runner.invoke(app, ["run-weekly"])
        monkeypatch.undo()
        monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
        monkeypatch.setenv("DATABASE_URL", wednesday_week)
    else:  # killed after execution, before the week was marked complete
        original = NewEvent.of.__func__

        def die_on_completion(cls: type, payload: Any, **kw: Any) -> Any:
            if isinstance(payload, WeekCompleted):
                raise KeyboardInterrupt
            return original(cls, payload, **kw)

        monkeypatch.setattr(NewEvent, "of", classmethod(die_on_completion))
        crashed = runner.invoke(app, ["run-weekly"])
        monkeypatch.undo()
        monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
        monkeypatch.setenv("DATABASE_URL", wednesday_week)
    assert crashed.exit_code != 0
    resumed = runner.invoke(app, ["run-weekly", "--json"])
    assert resumed.exit_code == 0, resumed.output
    report = json.loads(resumed.stdout)
    done = ALL_STAGES[: ALL_STAGES.index(completed) + 1]
    loaded = [s for s in done if FED.get(s, s) in done]
    assert report["resumed_stages"] == loaded
    completed_stages = Counter(e.payload["stage"] for e in stored_events(wednesday_week, type="StageCompleted"))
    assert completed_stages[completed] == 2  # ran, then loaded on resume
    # The resumed run's own stage events say which stages loaded their stored output.
    rerun = stored_events(wednesday_week, type="StageCompleted", run_id=report["run_id"])
    assert [e.payload["stage"] for e in rerun if e.payload["loaded"]] == loaded
    calls = Counter(e.payload["role"] for e in stored_events(wednesday_week, type="LLMCallCompleted"))
    assert calls == {"research": 2, "pm_pitch": 4, "peer_review": 12, "chairman_decision": 1}  # nothing asked twice
    submitted = [
        OrderSubmitted.from_event(e).order.client_order_id for e in stored_events(wednesday_week, type="OrderSubmitted")
    ]
    assert len(submitted) == len(set(submitted)) == len(report["orders"])
    accepted = [
        PaperOrderAccepted.from_event(e).order.client_order_id
        for e in stored_events(wednesday_week, type="PaperOrderAccepted")
    ]
    assert sorted(accepted) == sorted(submitted)  # each order reached the broker exactly once


class SimulatedCrash(RuntimeError):
    """The process dying mid-way (a KeyboardInterrupt from a worker thread would upset asyncio itself)."""


async def _killed(self: object, context: object) -> object:
    raise KeyboardInterrupt  # like a kill: not an LlmtradeError, nothing handles it gracefully


def test_an_order_sent_but_not_recorded_is_not_sent_again(wednesday_week: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The crash falls between the broker accepting an order and our event recording it."""
    original = execution._send
    calls = {"n": 0}

    def send_then_die(broker: Any, order: Any) -> Any:
        original(broker, order)
        calls["n"] += 1
        raise SimulatedCrash  # in a worker thread; not an LlmtradeError, so nothing handles it

    monkeypatch.setattr(execution, "_send", send_then_die)
    assert runner.invoke(app, ["run-weekly"]).exit_code != 0
    # Accounts execute in parallel: each may have had one order accepted but unrecorded at the crash.
    assert 1 <= calls["n"] <= 5
    assert stored_events(wednesday_week, type="OrderSubmitted") == []  # none of them was recorded
    monkeypatch.undo()
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    monkeypatch.setenv("DATABASE_URL", wednesday_week)
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    accepted = [
        PaperOrderAccepted.from_event(e).order.client_order_id
        for e in stored_events(wednesday_week, type="PaperOrderAccepted")
    ]
    assert len(accepted) == len(set(accepted))
    assert len(stored_events(wednesday_week, type="OrderSubmitted")) == len(accepted)


def test_two_concurrent_runs_of_one_week_produce_one_set_of_events(wednesday_week: str) -> None:
    env = {**os.environ, "DATABASE_URL": wednesday_week, "LLMTRADE_NOW": WEDNESDAY_8AM}
    command = [sys.executable, "-m", "llmtrade", "run-weekly"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outcomes = [(*p.communicate(timeout=120), p.returncode) for p in (first, second)]
    codes = sorted(code for _, _, code in outcomes)
    assert codes[0] == 0
    loser = next((o for o in outcomes if o[2] != 0), None)
    if loser is not None:
        assert "is running (advisory lock" in loser[1]
    counts = _count(wednesday_week)
    assert counts["WeekCompleted"] == 1
    assert (counts["PitchSubmitted"], counts["ReviewSubmitted"], counts["DecisionMade"]) == (4, 12, 1)
    assert counts["PaperOrderAccepted"] == counts["OrderSubmitted"]
    assert counts["LLMCallCompleted"] == 19


def test_an_invalid_pm_answer_degrades_only_that_account(wednesday_week: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with going_live(monkeypatch, grok_cannot_pitch):
        result = runner.invoke(app, ["run-weekly", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["failed_pms"] == ["grok"]
    assert [p["pm"] for p in report["pitches"]] == ["gpt", "gemini", "sonnet"]
    assert any("PM grok" in note and "acct_4 stays flat" in note for note in report["degraded"])
    assert sum(len(row) for row in report["review_matrix"].values()) == 6  # 3 x 2: grok does not review
    acct_4 = next(v for v in report["risk"] if v["account_id"] == "acct_4")
    assert acct_4["target_qty"] == 0 and acct_4["approved"]
    assert not [o for o in report["orders"] if o["account_id"] == "acct_4"]
    assert {o["account_id"] for o in report["orders"]} >= {"acct_1", "acct_2", "acct_3", "acct_5"}
    [failed] = stored_events(wednesday_week, type="PitchFailed")
    assert failed.payload["pm_id"] == "grok" and failed.account_id == "acct_4"
    assert "after a repair attempt" in failed.payload["error"]
    [finished] = stored_events(wednesday_week, type="RunFinished")
    assert finished.payload["degraded"] is True


def test_dry_run_does_everything_but_send_orders(wednesday_week: str) -> None:
    # Warm the bar cache first: the snapshot's source ("synthetic" or "synthetic (cache)") and row order
    # are in every prompt, and offline answers are seeded by the prompt, so both runs must read alike.
    assert runner.invoke(app, ["market", "snapshot"]).exit_code == 0
    dry = runner.invoke(app, ["run-weekly", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)
    assert report["dry_run"] and report["orders"] and all(o["status"] == "planned" for o in report["orders"])
    counts = _count(wednesday_week)
    assert counts["OrderSubmitted"] == 0 and counts["PaperOrderAccepted"] == 0 and counts["WeekCompleted"] == 0
    real = json.loads(runner.invoke(app, ["run-weekly", "--json"]).stdout)
    assert [o["client_order_id"] for o in real["orders"]] == [o["client_order_id"] for o in report["orders"]]
    assert _count(wednesday_week)["OrderSubmitted"] == len(report["orders"])


def test_a_live_endpoint_configuration_is_refused(wednesday_week: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPACA_ACCT_1_KEY", "key")
    monkeypatch.setenv("ALPACA_ACCT_1_SECRET", "secret")
    monkeypatch.setenv("LLMTRADE_ALPACA_URL", "https://api.alpaca.markets")
    with going_live(monkeypatch, None) as fake:
        result = runner.invoke(app, ["run-weekly"])
    assert result.exit_code == 1
    assert "live_trading_enabled: true" in result.stderr
    assert fake.requests == []  # refused before any model was asked
    assert _count(wednesday_week)["OrderSubmitted"] == 0


def test_a_prompt_every_caller_is_asked_alike_is_rendered_once(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing in a research or pitch prompt names its provider or PM (and recall shows every PM the same lines):
    # the week's two research calls share one rendering, the four pitches another.
    from llmtrade.prompts.renderer import PromptRenderer

    rendered: Counter[str] = Counter()
    real = PromptRenderer.render

    def counting(self: PromptRenderer, role: str, **variables: Any) -> Any:
        rendered[role] += 1
        return real(self, role, **variables)

    monkeypatch.setattr(PromptRenderer, "render", counting)
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    assert (rendered["research"], rendered["pm_pitch"], rendered["peer_review"], rendered["chairman_decision"]) == (
        1,
        1,
        12,
        1,
    )
    calls = [e for e in stored_events(wednesday_week) if e.type == "LLMCallCompleted"]
    assert len(calls) == 2 + 4 + 12 + 1
