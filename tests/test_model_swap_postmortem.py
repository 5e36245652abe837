"""A model swapped in models.yaml mid-week under the same PM id (or the chairman's): the postmortem says that the week's
reflection was written by the model that made the trade, not the one models.yaml names now.

The checkpoints already said so (tests/test_model_swapped_mid_week.py); the postmortem had its week's old model reflect
and said nothing of it: not in its output, its --json, nor the report the weekly reader reads.
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


def test_the_postmortem_says_the_weeks_old_model_wrote_the_reflection(
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
    models.write_text(swapped)  # after the week's run, before its postmortem
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")  # Tuesday after the postmortem's 16:30
    done = runner.invoke(app, ["--config", str(folder), "postmortem", "--json"])
    assert done.exit_code == 0, done.output
    reflected = [e for e in stored_events(wednesday_week, type="LLMCallCompleted") if e.payload["role"] == "postmortem"]
    by_account = {e.account_id: e.payload["model"] for e in reflected}
    assert by_account.get("acct_1") == "openai/gpt-5.1", by_account  # the old model reflected, as before
    assert by_account.get("acct_5") == "google/gemini-3-pro-preview", by_account
    report = json.loads(done.stdout)
    [gpt] = [n for n in report["models_kept"] if n.startswith("acct_1: ")]
    assert gpt.startswith("acct_1: PM gpt names openai/gpt-6 in models.yaml now; the week's trade was made by")
    assert gpt.endswith("so openai/gpt-5.1 wrote this postmortem's reflection")
    assert any(n.startswith("acct_5: the chairman names anthropic/x-9") for n in report["models_kept"])
    assert not [n for n in report["models_kept"] if n.startswith(("acct_2: ", "acct_3: ", "acct_4: "))]
    accounts = {a["account_id"]: a for a in report["accounts"]}
    assert accounts["acct_1"]["model_kept"] == gpt and "model_kept" not in accounts["acct_2"]
    # Recorded with the postmortem, for the report the weekly reader reads.
    written = {e.account_id: e.payload["postmortem"] for e in stored_events(wednesday_week, type="PostmortemWritten")}
    assert written["acct_1"]["model_kept"] == gpt and "model_kept" not in written["acct_2"]

    again = runner.invoke(app, ["--config", str(folder), "postmortem"])  # stored; said again as read back
    assert again.exit_code == 0, again.output
    assert f"MODEL KEPT: {gpt}" in again.stdout
    page = tmp_path / "report.html"
    assert runner.invoke(app, ["--config", str(folder), "report", "-o", str(page)]).exit_code == 0
    assert "wrote this postmortem&#39;s reflection" in page.read_text() or "wrote this postmortem's reflection" in (
        page.read_text()
    )


def test_run_due_says_which_model_wrote_the_reflection(
    live: FakeLLM, wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "config"
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    assert runner.invoke(app, ["--config", str(folder), "-q", "run-weekly"]).exit_code == 0
    models = folder / "models.yaml"
    models.write_text(models.read_text().replace(GPT, "{id: gpt, model: openai/gpt-6, "))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:35:00-05:00")  # the postmortem's wake-up
    woke = runner.invoke(app, ["--config", str(folder), "run-due"])
    assert woke.exit_code == 0, woke.output
    assert "postmortem:2026-01-07 MODEL KEPT: acct_1: PM gpt names openai/gpt-6 in models.yaml now" in woke.stdout
    assert "so openai/gpt-5.1 wrote this postmortem's reflection" in woke.stdout
