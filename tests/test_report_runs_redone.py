"""A run that redid nothing is not counted in the report as one more run of its job.

`postmortem --week D` of a week whose postmortem is done shows the stored one ("stored; not redone") and records a run
whose every stage loaded its stored output; the weekly report counted it as "postmortem: 2 finished", as if the week
had been scored twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()


def test_a_postmortem_shown_again_is_counted_as_nothing_redone(
    wednesday_week: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")  # after the week's last close
    first = runner.invoke(app, ["postmortem", "--week", "2026-01-07", "--offline"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["postmortem", "--week", "2026-01-07", "--offline"])
    assert again.exit_code == 0 and "not redone" in again.stdout, again.output
    page = tmp_path / "report.html"
    assert runner.invoke(app, ["report", "-o", str(page)]).exit_code == 0
    html = page.read_text()
    assert "postmortem: 1 finished, 1 finished (nothing redone)" in html
    assert html.count("nothing redone: every stage was already done and loaded from the stored week") == 1
