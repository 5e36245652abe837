"""A symbol taken out of assets.yaml's universe while an account holds it is still priced from the data: the universe
says what may be pitched, not what is valued. And whatever a job says is DEGRADED is what its RunFinished records.

An operator's trial (a CSV market, GLD removed on a Tuesday while acct_4 held it): status said "valued at cost", every
checkpoint stored AccountValued at cost, the postmortem's end equity was at cost and the next week's P/L booked from
it, though the CSV folder had GLD's prices all along; a checkpoint printed `DEGRADED: ... not priced, so not judged`
while its RunFinished said not degraded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from llmtrade.brokers.fills import valuation_event
from llmtrade.cli import app
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.trading import AccountSnapshot, Position
from tests.support import stored_events
from tests.test_week_lifecycle import week

__all__ = ["week"]  # the fixture: a scripted week on a CSV market; acct_3 buys GLD at Wednesday's open

runner = CliRunner()
WEEK = "2026-01-07"


def _invoke(monkeypatch: pytest.MonkeyPatch, at: str, *args: str) -> Result:
    monkeypatch.setenv("LLMTRADE_NOW", at)
    return runner.invoke(app, list(args))


def _standing(result: Result, account_id: str) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return next(a for a in json.loads(result.stdout)["accounts"] if a["account_id"] == account_id)


def _gld_held(standing: dict[str, Any]) -> int:
    [held] = [p["qty"] for p in standing["positions"] if p["symbol"] == "GLD"]
    assert held > 0
    return held


def test_status_prices_a_held_symbol_out_of_the_universe_from_the_data(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    week  # noqa: B018 (the fixture's market and models)
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    no_gld = _without("GLD", tmp_path / "config")
    at = "2026-01-07T12:05:00-05:00"  # the 08:00 orders filled at the open
    full = _standing(_invoke(monkeypatch, at, "status", "--json"), "acct_3")
    _gld_held(full)
    shown = _invoke(monkeypatch, at, "--config", str(no_gld), "status", "--json")
    without = _standing(shown, "acct_3")
    assert without["equity"] == full["equity"]  # at GLD's price, not at its cost
    assert not [w for w in json.loads(shown.stdout)["warnings"] if "no price" in w]


def test_a_checkpoint_values_and_judges_a_held_symbol_out_of_the_universe(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    no_gld = _without("GLD", tmp_path / "config")
    held = _gld_held(_standing(_invoke(monkeypatch, "2026-01-07T11:59:00-05:00", "status", "--json"), "acct_3"))
    result = _invoke(monkeypatch, "2026-01-07T12:00:00-05:00", "--config", str(no_gld), "checkpoint", "12:00", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    acct_3 = next(a for a in report["accounts"] if a["account_id"] == "acct_3")
    assert acct_3["skipped"] is None, acct_3
    assert acct_3["checkpoint"]["action"] == "REDUCE"  # its owner was asked, as any holder is
    # Closing or cutting a symbol out of the universe goes through the gate as risk-reducing, with its own verdict.
    assert acct_3["verdict"]["instrument"] == "GLD" and acct_3["verdict"]["approved"], acct_3["verdict"]
    assert acct_3["verdict"]["target_qty"] == held // 2
    assert [(o["symbol"], o["side"], o["qty"]) for o in acct_3["orders"]] == [("GLD", "sell", held - held // 2)]
    quoted = [
        q["price"]
        for e in stored_events(url, type="QuoteFetched")
        for q in e.payload["quotes"]
        if q["symbol"] == "GLD" and e.run_id == report["run_id"]
    ]
    assert quoted, "GLD was not priced"
    [valued] = [
        e.payload
        for e in stored_events(url, type="AccountValued", account_id="acct_3")
        if e.payload["occasion"].startswith("checkpoint")
    ]
    assert valued["equity"] == pytest.approx(valued["cash"] + held * quoted[0], abs=0.01)
    assert "at_cost" not in valued


def test_the_postmortem_and_the_next_week_value_a_held_symbol_out_of_the_universe_from_the_data(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, url, closes = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    no_gld = _without("GLD", tmp_path / "config")
    after_close = "2026-01-13T16:45:00-05:00"
    full = _standing(_invoke(monkeypatch, after_close, "status", "--json"), "acct_3")
    done = _invoke(monkeypatch, after_close, "--config", str(no_gld), "-q", "postmortem", "--week", WEEK)
    assert done.exit_code == 0, done.output
    [written] = [e.payload for e in stored_events(url, type="PostmortemWritten") if e.account_id == "acct_3"]
    held = _gld_held(full)
    assert full["equity"] == pytest.approx(full["cash"] + held * closes["GLD"], abs=0.01)
    assert written["postmortem"]["end_equity"] == pytest.approx(full["equity"], abs=0.01)
    # The next week's roll values it from the same data, and sells it there.
    rolled = _invoke(monkeypatch, "2026-01-14T08:00:00-05:00", "--config", str(no_gld), "-q", "run-weekly")
    assert rolled.exit_code == 0, rolled.output
    [start] = [
        e.payload
        for e in stored_events(url, type="AccountValued", account_id="acct_3")
        if e.payload["occasion"] == "week start" and str(e.week_id) == "2026-01-14"
    ]
    assert start["equity"] == pytest.approx(full["equity"], abs=0.01)


def test_a_checkpoint_says_degraded_exactly_when_its_run_finished_records_it(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The trial's wake-up: `-q run-due` printed `checkpoint:... DEGRADED: acct_4: GLD is held but no longer in
    assets.yaml's universe ...` and the run's RunFinished said `"degraded": false`."""
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    no_gld = _without("GLD", tmp_path / "config")
    before = {e.run_id for e in stored_events(url, type="RunFinished")}
    woke = _invoke(monkeypatch, "2026-01-07T12:01:00-05:00", "--config", str(no_gld), "-q", "run-due")
    assert woke.exit_code == 0, woke.output
    ends = [e for e in stored_events(url, type="RunFinished") if e.run_id not in before]
    started = {e.run_id: e.payload for e in stored_events(url, type="RunStarted")}
    checkpoints = [e for e in ends if started[e.run_id]["command"] == "checkpoint"]
    assert checkpoints
    said = [line for line in woke.output.splitlines() if "DEGRADED" in line]
    assert bool(said) == any(e.payload["degraded"] for e in checkpoints), (said, [e.payload for e in checkpoints])


def test_a_postmortem_run_due_says_degraded_as_its_run_finished_records_it(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A postmortem whose reflections failed for good is recorded degraded and each failure is said, once (run-due said
    it twice: the job's warning, then a DEGRADED line of the same note: review S)."""
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "postmortem.user.j2").write_text("{{ instrument }}\n{{ indicators.no_such }}\n")
    monkeypatch.setenv("LLMTRADE_PROMPTS_DIR", str(prompts))
    before = {e.run_id for e in stored_events(url, type="RunFinished")}
    woke = _invoke(monkeypatch, "2026-01-13T16:45:00-05:00", "-q", "run-due")
    started = {e.run_id: e.payload for e in stored_events(url, type="RunStarted")}
    [end] = [
        e
        for e in stored_events(url, type="RunFinished")
        if e.run_id not in before and started[e.run_id]["command"] == "postmortem"
    ]
    assert end.payload["degraded"] is True, woke.output
    said = [line for line in woke.output.splitlines() if "reflection failed" in line]
    assert said and all(line.startswith("postmortem 2026-01-07: ") for line in said), woke.output
    assert len(said) == len({line.split(": ", 1)[1] for line in said})  # each failure once


def test_a_valuation_with_a_held_symbol_no_provider_priced_says_so_and_old_ones_still_read() -> None:
    """No price anywhere: the equity holds it at cost, and the stored valuation says which, not passing for a market
    value; a valuation stored before the mark reads as priced throughout."""
    account = AccountSnapshot(
        account_id="acct_3",
        cash=80_000.0,
        equity=100_000.0,
        buying_power=80_000.0,
        positions={"GLD": Position(symbol="GLD", qty=100, avg_price=200.0)},
        at_cost=["GLD"],
    )
    event, _ = valuation_event(account, occasion="week start", week_id=None, run_id=None)
    assert event.payload["at_cost"] == ["GLD"]
    priced, _ = valuation_event(account.model_copy(update={"at_cost": []}), occasion="x", week_id=None, run_id=None)
    assert "at_cost" not in priced.payload  # written as before when everything was priced
    old = {k: v for k, v in priced.payload.items()}
    assert AccountValued.model_validate(old).at_cost == []


def _without(symbol: str, config: Path) -> Path:
    """A config folder (`llmtrade init`) whose universe lacks `symbol`."""
    assert runner.invoke(app, ["init", str(config)]).exit_code == 0
    assets = yaml.safe_load((config / "assets.yaml").read_text())
    assets["universe"] = [i for i in assets["universe"] if i["symbol"] != symbol]
    (config / "assets.yaml").write_text(yaml.safe_dump(assets, sort_keys=False))
    return config
