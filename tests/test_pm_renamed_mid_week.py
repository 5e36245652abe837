"""A PM renamed in models.yaml mid-week (same model, same account) keeps its own provider for the week's checkpoints.

The checkpoint's owner of a pitch was found by the pitch's PM id alone; renamed since Wednesday, the trade was judged
by the pitch's model on the first provider in models.yaml, at the default temperature and max_tokens: a PM served by a
second provider (a local server, say) was asked for at one that may not serve it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.fakes.llm_transport import FakeLLM
from tests.support import stored_events

runner = CliRunner()

LOCAL = """  local:
    base_url: http://127.0.0.1:9/v1
    api_key_env: LOCAL_LLM_KEY
"""


def _config(folder: Path, gpt_id: str) -> Path:
    if not folder.exists():
        assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    models = folder / "models.yaml"
    text = models.read_text()
    if "  local:\n" not in text:
        text = text.replace("\n# One PM per account", f"\n{LOCAL}\n# One PM per account", 1)
    old = "model: openai/gpt-5.1, provider: openrouter,"
    text = text.replace(old, "model: openai/gpt-5.1, provider: local,", 1).replace("{id: gpt, ", f"{{id: {gpt_id}, ", 1)
    assert f"{{id: {gpt_id}, model: openai/gpt-5.1, provider: local," in text
    models.write_text(text)
    return folder


def test_a_pm_renamed_mid_week_is_judged_on_its_own_provider(
    live: FakeLLM, wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "config"
    weekly = runner.invoke(app, ["--config", str(_config(folder, "gpt")), "-q", "run-weekly"])
    assert weekly.exit_code == 0, weekly.output
    pitched = [e for e in stored_events(wednesday_week, type="LLMCallCompleted") if e.payload["role"] == "pm_pitch"]
    assert {e.payload["provider"] for e in pitched if e.payload["model"] == "openai/gpt-5.1"} == {"local"}
    _config(folder, "gpt5")  # renamed after the week's run, before its checkpoints
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    checked = runner.invoke(app, ["--config", str(folder), "checkpoint", "12:00"])
    assert checked.exit_code == 0, checked.output
    judged = [
        e
        for e in stored_events(wednesday_week, type="LLMCallCompleted")
        if e.payload["role"] == "checkpoint" and e.payload["model"] == "openai/gpt-5.1"
    ]
    assert judged, "acct_1 was not judged: the test proves nothing"
    assert {e.payload["provider"] for e in judged} == {"local"}
