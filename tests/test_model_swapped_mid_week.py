"""A model swapped in models.yaml mid-week under the same PM id (or the chairman's) does not judge the old trade.

models.yaml edited between the weekly run and a checkpoint (gpt: openai/gpt-5.1 -> openai/gpt-6, the chairman's
gemini -> claude): the checkpoint found the owner by the PM's id alone, so the new model judged a trade it never made,
from a thesis it never wrote (unlike a rename, which keeps the PM's own entry). The week's trade is judged by the model
that made it, from the week's frozen inputs, on the provider its weekly answer recorded; the checkpoint says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.fakes.llm_transport import FakeLLM
from tests.support import stored_events

runner = CliRunner()
GPT = "{id: gpt, model: openai/gpt-5.1, "
CHAIR = "chairman: {model: google/gemini-3-pro-preview, "


def test_a_model_swapped_under_the_same_pm_id_mid_week_leaves_the_weeks_trade_to_the_model_that_made_it(
    live: FakeLLM, wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "config"
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    weekly = runner.invoke(app, ["--config", str(folder), "-q", "run-weekly"])
    assert weekly.exit_code == 0, weekly.output
    models = folder / "models.yaml"
    text = models.read_text()
    assert GPT in text and CHAIR in text
    swapped = text.replace(GPT, "{id: gpt, model: openai/gpt-6, ").replace(CHAIR, "chairman: {model: anthropic/x-9, ")
    models.write_text(swapped)  # after the week's run, before its checkpoints
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    checked = runner.invoke(app, ["--config", str(folder), "checkpoint", "12:00", "--json"])
    assert checked.exit_code == 0, checked.output
    judged = [e for e in stored_events(wednesday_week, type="LLMCallCompleted") if e.payload["role"] == "checkpoint"]
    by_account = {e.account_id: e.payload["model"] for e in judged}
    assert {"acct_1", "acct_5"} <= set(by_account), f"not judged, the test proves nothing: {by_account}"
    assert by_account["acct_1"] == "openai/gpt-5.1"
    assert by_account["acct_5"] == "google/gemini-3-pro-preview"
    assert not {"openai/gpt-6", "anthropic/x-9"} & {e.payload["model"] for e in judged}
    kept = json.loads(checked.stdout)["models_kept"]
    assert any(
        n.startswith(
            "acct_1: PM gpt names openai/gpt-6 in models.yaml now; the week's trade was made by openai/gpt-5.1"
        )
        for n in kept
    ), kept
    assert any(n.startswith("acct_5: the chairman names anthropic/x-9") for n in kept), kept
