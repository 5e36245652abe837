"""A bare `llmtrade postmortem` scores the week that just ended once its postmortem is due.

Run at the schedule's own postmortem time (Tuesday 16:30) or later that evening, it took "the week before the current
one": the week before the one just ended, so a first week's books exited 2 ("week 2025-12-31 has no completed weekly
run") and later ones showed last week's stored postmortem while the week just ended stayed unscored.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()


def test_a_bare_postmortem_on_tuesday_evening_scores_the_week_that_just_ended(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:00:00-05:00")  # before its postmortem time: not due yet
    early = runner.invoke(app, ["postmortem", "--offline"])
    assert early.exit_code == 2 and "week 2025-12-31 has no completed weekly run" in early.output, early.output
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")  # after it
    scored = runner.invoke(app, ["postmortem", "--offline", "--json"])
    assert scored.exit_code == 0, scored.output
    result = json.loads(scored.stdout)
    assert result["week_id"] == "2026-01-07" and result["written_now"] is True
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T07:00:00-05:00")  # Wednesday before the next run: still that week
    assert json.loads(runner.invoke(app, ["postmortem", "--offline", "--json"]).stdout)["week_id"] == "2026-01-07"
