"""Checkpoints and postmortems as Pipelines of Stages, on a real PostgreSQL: each stage is recorded,
and a run killed after any stage resumes from the next one (stored stages load, no owner is asked
twice, no order is sent twice). Models are scripted at the HTTP transport; prices come from CSV."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.domain.trading import OrderSubmitted, PaperOrderAccepted
from llmtrade.errors import BrokerUnavailable
from llmtrade.workflows import execution
from llmtrade.workflows.checkpoint_ask import AskStage
from llmtrade.workflows.checkpoint_trade import CompleteStage, DecideStage, ExecuteStage
from llmtrade.workflows.postmortem_stages import RecordStage
from tests.support import going_live, stored_events
from tests.test_week_lifecycle import CHECKPOINT_ANSWERS, scripted, write_market

runner = CliRunner()
DEFAULTS = Path(__file__).parents[1] / "src" / "llmtrade" / "config" / "defaults"
CHECKPOINT_STAGES = ["prepare", "ask", "decide", "execute", "complete"]


@pytest.fixture
def week(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The week's committee has run (Wednesday 08:00); it is now 12:00, when the checkpoint is due."""
    closes = write_market(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    with going_live(monkeypatch, scripted(closes), market=tmp_path / "csv") as fake:
        weekly = runner.invoke(app, ["run-weekly"])
        assert weekly.exit_code == 0, weekly.output
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
        yield fake, cli_env["DATABASE_URL"]


def _stages(url: str, run_id: str) -> list[tuple[str, str, bool | None]]:
    return [
        (e.type, e.payload["stage"], e.payload.get("loaded"))
        for e in stored_events(url, run_id=run_id)
        if e.type in ("StageStarted", "StageCompleted", "StageFailed")
    ]


def _loaded(url: str, run_id: str) -> list[str]:
    return [stage for kind, stage, loaded in _stages(url, run_id) if kind == "StageCompleted" and loaded]


def _asked(fake: Any, since: int, schema: str) -> list[str]:
    return [
        r["model"]
        for r in fake.requests[since:]
        if r.get("response_format", {}).get("json_schema", {}).get("name") == schema
    ]


def _orders_sent_once(url: str) -> None:
    submitted = [OrderSubmitted.from_event(e).order.client_order_id for e in stored_events(url, type="OrderSubmitted")]
    accepted = [
        PaperOrderAccepted.from_event(e).order.client_order_id for e in stored_events(url, type="PaperOrderAccepted")
    ]
    assert len(submitted) == len(set(submitted))
    assert sorted(accepted) == sorted(submitted)  # each order reached the broker exactly once


async def _killed(self: object, context: object) -> object:
    raise KeyboardInterrupt  # like a kill: not an LlmtradeError, nothing handles it gracefully


def test_a_checkpoint_records_each_stage_and_a_repeat_loads_them_all(week: Any) -> None:
    _, url = week
    first = json.loads(runner.invoke(app, ["checkpoint", "12:00", "--json"]).stdout)
    expected = [
        (kind, s, None if kind == "StageStarted" else False)
        for s in CHECKPOINT_STAGES
        for kind in ("StageStarted", "StageCompleted")
    ]
    assert _stages(url, first["run_id"]) == expected
    again = json.loads(runner.invoke(app, ["checkpoint", "12:00", "--json"]).stdout)
    assert _loaded(url, again["run_id"]) == CHECKPOINT_STAGES
    assert again["accounts"] == first["accounts"]


RESUMED = {  # the stage killed -> the stages the rerun loads
    AskStage: [],  # prepare stores nothing: it is simply done again
    DecideStage: ["prepare", "ask"],
    ExecuteStage: ["prepare", "ask", "decide"],
    CompleteStage: ["prepare", "ask", "decide", "execute"],
}


@pytest.mark.parametrize("victim", list(RESUMED), ids=lambda v: v.name)
def test_a_checkpoint_killed_before_a_stage_resumes_there(week: Any, victim: type) -> None:
    fake, url = week
    asked_before = len(fake.requests)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(victim, "run", _killed)
        crashed = runner.invoke(app, ["checkpoint", "12:00"])
    assert crashed.exit_code != 0
    assert stored_events(url, type="CheckpointCompleted") == []
    resumed = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert resumed.exit_code == 0, resumed.output
    report = json.loads(resumed.stdout)
    assert _loaded(url, report["run_id"]) == RESUMED[victim]
    # Every owner asked exactly once over both runs: the rule decides for SPY without asking anyone.
    assert sorted(_asked(fake, asked_before, "CheckpointDecision")) == sorted(CHECKPOINT_ANSWERS)
    by_account = {a["account_id"]: a for a in report["accounts"]}
    assert by_account["acct_1"]["checkpoint"]["action"] == "EXIT"
    assert by_account["acct_2"]["checkpoint"]["action"] == "FLIP" and by_account["acct_2"]["orders"]
    counts = Counter(e.type for e in stored_events(url))
    assert (counts["CheckpointTaken"], counts["CheckpointCompleted"]) == (5, 1)
    assert counts["OrdersPlanned"] == 5 + 4  # the week's five plans, then one each for acct_1, 2, 3 and 5
    _orders_sent_once(url)


def test_a_broker_that_fails_mid_checkpoint_leaves_the_decisions_for_the_rerun(
    week: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = week
    asked_before = len(fake.requests)
    original = execution._send
    calls = {"n": 0}

    def down_after_first(broker: Any, order: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 1:
            raise BrokerUnavailable("broker timed out and the order could not be found")
        return original(broker, order)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(execution, "_send", down_after_first)
        failed = runner.invoke(app, ["checkpoint", "12:00"])
    assert failed.exit_code == BrokerUnavailable.exit_code
    planned = len(stored_events(url, type="OrdersPlanned"))
    resumed = json.loads(runner.invoke(app, ["checkpoint", "12:00", "--json"]).stdout)
    assert _loaded(url, resumed["run_id"]) == ["prepare", "ask", "decide"]
    assert len(stored_events(url, type="OrdersPlanned")) == planned  # the plans were not made again
    assert sorted(_asked(fake, asked_before, "CheckpointDecision")) == sorted(CHECKPOINT_ANSWERS)
    _orders_sent_once(url)


def test_a_budget_stop_of_one_owner_stores_the_others_judgements_and_the_rerun_asks_only_it(
    week: Any, tmp_path: Path
) -> None:
    """A review's finding: the weekly fan-outs kept the answers given before one member's stop, the checkpoint's did
    not: a spent budget for one owner threw away the judgements the other owners had just given (paid for), and the
    rerun asked them all again. The budget is the real one: grok's price makes its worst case alone pass it."""
    fake, url = week
    asked_before = len(fake.requests)

    stopped = runner.invoke(app, ["--config", str(_grok_priced_out(tmp_path)), "checkpoint", "12:00"])

    assert stopped.exit_code == 1, stopped.output
    assert "budget" in stopped.stderr and "Traceback" not in stopped.output
    assert "the rerun asks only the owner(s) of acct_4" in stopped.stderr
    assert sorted(_asked(fake, asked_before, "CheckpointDecision")) == [
        "anthropic/claude-sonnet-4.5",
        "google/gemini-3-pro-preview",
    ]
    taken = {e.account_id for e in stored_events(url, type="CheckpointTaken")}
    assert {"acct_2", "acct_3"} <= taken and "acct_4" not in taken
    assert stored_events(url, type="CheckpointCompleted") == []
    planned = len(stored_events(url, type="OrdersPlanned"))
    assert planned == 5  # the week's plans alone: nothing was decided after the stop

    resumed = runner.invoke(app, ["checkpoint", "12:00", "--json"])

    assert resumed.exit_code == 0, resumed.output
    # Every owner asked exactly once over both runs.
    assert sorted(_asked(fake, asked_before, "CheckpointDecision")) == sorted(CHECKPOINT_ANSWERS)
    by_account = {a["account_id"]: a for a in json.loads(resumed.stdout)["accounts"]}
    assert by_account["acct_2"]["checkpoint"]["action"] == "FLIP" and by_account["acct_2"]["orders"]
    assert by_account["acct_4"]["checkpoint"]["action"] == "STAY"
    assert Counter(e.type for e in stored_events(url))["CheckpointTaken"] == 5
    _orders_sent_once(url)


def test_judgements_stored_before_a_stop_are_not_traded_by_a_rerun_past_the_checkpoints_deadline(
    week: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review: the judgements kept at a stop were decided whenever the checkpoint was run again, even by hand after
    its deadline (the next checkpoint's time), at prices hours later than they were made at. Past the deadline they
    are not traded; run-due closes the checkpoint ("judged, not traded") and the next checkpoint judges afresh."""
    _, url = week
    assert runner.invoke(app, ["--config", str(_grok_priced_out(tmp_path)), "checkpoint", "12:00"]).exit_code == 1
    plans = len(stored_events(url, type="OrdersPlanned"))

    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T14:30:00-05:00")  # past 12:00's deadline, 14:00
    late = runner.invoke(app, ["checkpoint", "12:00"])

    assert late.exit_code == 0, late.output
    stale = {
        e.account_id: e.payload["verdict"]
        for e in stored_events(url, type="RiskChecked")
        if e.payload["verdict"]["reason"].startswith("STALE")
    }
    # Every judgement of 12:00 that trades (acct_1's and acct_5's rule exits, acct_2's FLIP, acct_3's REDUCE): not
    # traded at 14:30's prices; the 14:00 checkpoint judges at its own.
    assert set(stale) == {"acct_1", "acct_2", "acct_3", "acct_5"}
    assert all(not v["approved"] and "deadline 2026-01-07T14:00:00-05:00" in v["reason"] for v in stale.values())
    new_plans = stored_events(url, type="OrdersPlanned")[plans:]
    assert not [p for p in new_plans if p.account_id in stale and p.payload["orders"]]
    assert "FLIP REFUSED (STALE)" in late.stdout
    _orders_sent_once(url)


def _grok_priced_out(tmp_path: Path) -> Path:
    """The defaults, with a run budget grok's worst case alone passes (its input price raised, so its prompt does:
    max_tokens at the output price alone passing it is refused at load): grok's call is refused."""
    config = tmp_path / "tight"
    shutil.copytree(DEFAULTS, config)
    models = config / "models.yaml"
    text = models.read_text().replace(
        "x-ai/grok-4: {input_per_mtok: 3.0, output_per_mtok: 15.0}",
        "x-ai/grok-4: {input_per_mtok: 1000000.0, output_per_mtok: 15.0}",
    )
    models.write_text(text + "\nbudget: {per_run_usd: 1.0}\n")
    return config


def test_a_halt_during_a_quiet_job_is_said_on_stderr(week: Any, tmp_path: Path) -> None:
    """A trial: the breaker halted three accounts at a `-q run-due` and nothing was said; without alert URLs a cron
    user never heard of it. A halt during a job is a warning: said under --quiet, naming the account and the reset."""
    _, url = week
    config = tmp_path / "touchy"
    shutil.copytree(DEFAULTS, config)
    risk = config / "risk.yaml"
    risk.write_text(
        risk.read_text()
        .replace("halt_drawdown_pct: 0.20", "halt_drawdown_pct: 0.0001")
        .replace("resume_drawdown_pct: 0.15", "resume_drawdown_pct: 0.00005")
    )

    quiet = runner.invoke(app, ["-q", "--config", str(config), "checkpoint", "12:00"])

    assert quiet.exit_code == 0, quiet.output
    halted = sorted({e.account_id or e.payload["account_id"] for e in stored_events(url, type="AccountHalted")})
    assert halted
    said = [line for line in quiet.stderr.splitlines() if "halted by its circuit breaker" in line]
    assert sorted(line.split()[1] for line in said) == halted  # each once, in the order the halts came
    assert all(line.startswith("warning: ") and "`llmtrade breaker reset acct_" in line for line in said)
    assert quiet.stdout == ""
    status = runner.invoke(app, ["-q", "--config", str(config), "status"])
    assert "halted by its circuit breaker" not in status.stderr  # a reading command halts nothing


def test_a_dry_run_checkpoint_stores_no_judgement_plan_or_order(week: Any) -> None:
    _, url = week
    before = Counter(e.type for e in stored_events(url))
    dry = runner.invoke(app, ["checkpoint", "12:00", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    by_account = {a["account_id"]: a for a in json.loads(dry.stdout)["accounts"]}
    assert by_account["acct_1"]["checkpoint"]["action"] == "EXIT" and by_account["acct_1"]["orders"]
    after = Counter(e.type for e in stored_events(url))
    for kind in (
        "CheckpointTaken",
        "CheckpointSkipped",
        "RiskChecked",
        "OrdersPlanned",
        "OrderSubmitted",
        "CheckpointCompleted",
        "AccountValued",
    ):
        assert after[kind] == before[kind], kind


def test_a_postmortem_killed_after_reflecting_resumes_without_asking_again(
    week: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = week
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:31:00-05:00")
    asked_before = len(fake.requests)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RecordStage, "run", _killed)
        crashed = runner.invoke(app, ["postmortem", "--week", "2026-01-07"])
    assert crashed.exit_code != 0
    assert len(stored_events(url, type="PostmortemReflected")) == 5  # acct_1..5 have an owner; the baseline has none
    assert stored_events(url, type="PostmortemWritten") == []
    reflected = len(_asked(fake, asked_before, "PostmortemAnswer"))
    assert reflected == 5
    resumed = runner.invoke(app, ["postmortem", "--week", "2026-01-07", "--json"])
    assert resumed.exit_code == 0, resumed.output
    report = json.loads(resumed.stdout)
    assert report["written_now"] is True
    assert _loaded(url, report["run_id"]) == ["reflect"]
    assert len(_asked(fake, asked_before, "PostmortemAnswer")) == reflected  # nobody was asked again
    assert all(a["reflection"] for a in report["accounts"] if a["account_id"] != "acct_6")
    stages = _stages(url, report["run_id"])
    assert [s for kind, s, _ in stages if kind == "StageStarted"] == [
        "gather",
        "reflect",
        "record",
        "remember_outcomes",
        "complete",
    ]
    again = json.loads(runner.invoke(app, ["postmortem", "--week", "2026-01-07", "--json"]).stdout)
    assert again["written_now"] is False and again["accounts"] == report["accounts"]
    assert _loaded(url, again["run_id"]) == ["gather", "reflect", "record", "remember_outcomes", "complete"]
    assert len(stored_events(url, type="PostmortemCompleted")) == 1
