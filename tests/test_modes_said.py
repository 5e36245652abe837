"""What a run says of its prices and of who answered is what happened (trial C, defect 1 and its kind).

The snapshot every prompt carries said "SYNTHETIC prices, offline mode" whenever prices were synthetic, also to real
models (keys set, no market data source), and the terminal's prices line called the synthetic market "the offline
market" under a "live mode" heading. Offline, the run's pitch table, the council and the HTML report named the
configured model beside the rules' "[offline rules]" answers, as if that model had answered.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.fakes.llm_transport import FakeLLM
from tests.support import stored_events

runner = CliRunner()


def test_a_live_week_on_synthetic_prices_tells_the_models_and_the_user_no_offline_mode(
    live: FakeLLM, wednesday_week: str, tmp_path: Path
) -> None:
    ran = runner.invoke(app, ["run-weekly"])
    assert ran.exit_code == 0, ran.output
    assert "live mode" in ran.stdout
    assert "prices: SYNTHETIC (the seeded synthetic market)" in ran.stdout and "offline" not in ran.stdout
    calls = stored_events(wednesday_week, type="LLMCallCompleted")
    prompts = [message["content"] for call in calls for message in call.payload["messages"]]
    snapshots = [p for p in prompts if "Market snapshot: prices from synthetic" in p]
    assert snapshots, "no prompt carried the market snapshot"
    assert all("SYNTHETIC prices" in p and "offline" not in p for p in snapshots)
    assert calls and all(call.payload["source"] == "live" for call in calls)
    page = tmp_path / "report.html"
    assert runner.invoke(app, ["report", "-o", str(page)]).exit_code == 0
    assert "offline rules, in place of" not in page.read_text()


def test_an_offline_week_names_the_rules_not_the_configured_model_as_what_answered(
    wednesday_week: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = runner.invoke(app, ["run-weekly", "--offline"])
    assert ran.exit_code == 0, ran.output
    assert "offline rules, in place of openai/gpt-5.1" in ran.stdout
    page = tmp_path / "report.html"
    assert runner.invoke(app, ["report", "-o", str(page)]).exit_code == 0
    html = page.read_text()
    assert "<td>offline rules, in place of openai/gpt-5.1</td>" in html
    assert "(offline rules, in place of google/gemini-3-pro-preview)" in html  # the chairman's decision
    assert "<td>openai/gpt-5.1</td>" not in html
    council = runner.invoke(app, ["council", "Is gold expensive?", "--offline"])
    assert council.exit_code == 0, council.output
    assert "[offline rules, in place of openai/gpt-5.1]" in council.stdout and "[openai/gpt-5.1]" not in council.stdout
