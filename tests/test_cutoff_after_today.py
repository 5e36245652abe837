"""A model's knowledge_cutoff after today is said by `config validate`: a year mistyped (2034 for 2024) is otherwise
taken as given.

Found by a new user's trial: `knowledge_cutoff: 2034-09-30` passed `config validate` without a word, and the
leaderboard then counted every week so far as one the model may have read about. It stays valid (a backtest's clock
may be years before a cutoff that is past by now), so it is said, not refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import write_defaults

runner = CliRunner()


def test_a_cutoff_after_today_is_said_and_not_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / "models.yaml"
    assert "knowledge_cutoff: 2024-09-30" in path.read_text()
    path.write_text(path.read_text().replace("knowledge_cutoff: 2024-09-30", "knowledge_cutoff: 2034-09-30", 1))
    result = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.output
    assert (
        "models.yaml pms[0].knowledge_cutoff 2034-09-30 is after today (2026-01-07): the leaderboard counts every "
        "week up to it as one the model may have read about; is the year mistyped?"
    ) in result.output, result.output
    assert result.output.count("knowledge_cutoff") == 1  # the packaged cutoffs are all past
