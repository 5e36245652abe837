"""An account whose PM's model was swapped in models.yaml between weeks says so on the leaderboard.

A cron user swaps acct_1's openai/gpt-5.1 for a newer model and keeps the account: its row then ranked both models'
weeks together under one name, and nothing in the leaderboard or the report said that part of it was another model's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()


def test_a_pm_model_swapped_between_weeks_is_named_beside_its_accounts_row(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # week 2026-01-07, gpt on acct_1
    config = tmp_path / "config"
    assert runner.invoke(app, ["init", str(config)]).exit_code == 0
    models = config / "models.yaml"
    assert "model: openai/gpt-5.1, " in models.read_text()
    models.write_text(models.read_text().replace("model: openai/gpt-5.1, ", "model: openai/gpt-6, ", 1))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:05:00-05:00")
    woke = runner.invoke(app, ["--config", str(config), "-q", "run-due"])  # last week's postmortem, this week's run
    assert woke.exit_code == 0, woke.output
    shown = runner.invoke(app, ["--config", str(config), "leaderboard", "--live", "--json"])
    assert shown.exit_code == 0, shown.output
    notes = json.loads(shown.stdout)["notes"]
    [swapped] = [n for n in notes if n.startswith("acct_1 ")]
    assert "acct_1 traded for 2 models: openai/gpt-5.1 (week 2026-01-07), openai/gpt-6 (week 2026-01-14)" in swapped
    assert not [n for n in notes if n.startswith(("acct_2 ", "acct_5 "))]  # the others kept theirs
