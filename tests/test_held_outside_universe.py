"""A symbol taken out of assets.yaml's universe mid-week while an account holds it: that account's checkpoint is
skipped saying why, and every other account is judged. It was a bare KeyError ('TLT') failing the prepare stage of
every account, wake-up after wake-up, exit 1 (an operator's trial)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events

runner = CliRunner()


def test_a_held_symbol_taken_out_of_the_universe_skips_its_accounts_and_judges_the_rest(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    bought = {
        o["account_id"]: o["symbol"]
        for e in stored_events(wednesday_week, type="OrdersPlanned")
        for o in e.payload["orders"]
    }
    removed = sorted(bought.values())[0]
    config = _without(removed, tmp_path / "config")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    result = runner.invoke(app, ["--config", str(config), "checkpoint", "12:00", "--json"])
    assert result.exit_code == 0, result.output
    by = {a["account_id"]: a for a in json.loads(result.stdout)["accounts"]}
    holders = {a for a, s in bought.items() if s == removed}
    others = set(bought) - holders
    assert holders and others, bought
    for account in holders:
        assert by[account]["skipped"].startswith(f"{removed} is held but no longer in assets.yaml's universe"), by[
            account
        ]
    assert all(by[a]["skipped"] is None for a in others), {a: by[a]["skipped"] for a in others}


def test_run_due_says_the_unjudged_holders_under_quiet(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An operator's trial: the skip was recorded and said nowhere all week, `-q run-due` silent, exit 0, while the
    position was judged by no one."""
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0
    held = {o["symbol"] for e in stored_events(wednesday_week, type="OrdersPlanned") for o in e.payload["orders"]}
    removed = sorted(held)[0]
    config = _without(removed, tmp_path / "config")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:01:00-05:00")
    woke = runner.invoke(app, ["--config", str(config), "-q", "run-due"])
    assert woke.exit_code == 0, woke.output
    said = [line for line in woke.output.splitlines() if "DEGRADED" in line]
    assert said and all(f"{removed} is held but no longer in assets.yaml's universe" in line for line in said), said


def test_status_says_a_held_symbol_it_cannot_price_is_valued_at_cost(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two trials: with a held symbol out of the config's universe, status valued the position at cost without a word
    (equity 100,000.00 exactly; another figure under another --config)."""
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T10:01:00-05:00")
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # the orders filled
    held = {e.payload["fill"]["symbol"] for e in stored_events(wednesday_week, type="OrderFilled")}
    removed = sorted(held)[0]
    config = _without(removed, tmp_path / "config")
    shown = runner.invoke(app, ["--config", str(config), "status", "--json"])
    assert shown.exit_code == 0, shown.output
    [said] = [w for w in json.loads(shown.stdout)["warnings"] if w.startswith(f"{removed} (held by ")]
    assert said.endswith("valued at cost") and said in shown.stderr
    assert not [w for w in json.loads(runner.invoke(app, ["status", "--json"]).stdout)["warnings"] if "no price" in w]


def _without(symbol: str, config: Path) -> Path:
    """A config folder (`llmtrade init`) whose universe lacks `symbol`."""
    assert runner.invoke(app, ["init", str(config)]).exit_code == 0
    assets = yaml.safe_load((config / "assets.yaml").read_text())
    assets["universe"] = [i for i in assets["universe"] if i["symbol"] != symbol]
    (config / "assets.yaml").write_text(yaml.safe_dump(assets, sort_keys=False))
    return config
