"""A universe symbol nobody holds whose CSV file is missing: `status`, `positions list` and the postmortem value the
books without it (nothing held lacks a price) and say what the next weekly run does with it, which stops on it with
exit 2 (the folder's to mend), as `market snapshot` does.

Before, `status` said "the weekly run leaves it out of the week" (what it does with prices that ended, not with a
file that is not there), `positions list` and the postmortem said nothing, and the next weekly run exited 2.

The scripted week of tests/test_week_lifecycle.py on its CSV market (the weekly run on Wednesday 2026-01-07 08:00).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_week_lifecycle import week

__all__ = ["week"]

runner = CliRunner()
STOPS = "the next weekly run stops on it (exit 2)"


def test_status_positions_and_the_postmortem_say_the_weekly_run_stops_on_a_universe_file_missing(
    week: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    week  # noqa: B018
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    gone = tmp_path / "csv" / "IWM.csv"  # held by nobody in the scripted week
    gone.unlink()
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T12:00:00-05:00")
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output  # every position has its price: the books are whole
    status = json.loads(shown.stdout)
    assert status["prices_failed"] is None
    [said] = [w for w in status["warnings"] if w.startswith("IWM ")]
    assert said.startswith("IWM (in assets.yaml's universe, held by no account) has no price: ")
    assert f"{gone} does not exist" in said and STOPS in said, said
    assert "leaves it out of the week" not in said
    listed = runner.invoke(app, ["-q", "positions", "list"])
    assert listed.exit_code == 0, listed.output
    assert f"{gone} does not exist" in listed.stderr and STOPS in listed.stderr, listed.stderr
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T17:00:00-05:00")
    done = runner.invoke(app, ["-q", "postmortem", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["degraded"] == []  # nobody held IWM: the week's result lacks nothing
    notes = [line for line in done.stderr.splitlines() if line.startswith("postmortem 2026-01-07: IWM ")]
    assert len(notes) == 1 and STOPS in notes[0] and f"{gone} does not exist" in notes[0], done.stderr
    # What they said is what the weekly run does.
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    weekly = runner.invoke(app, ["-q", "run-weekly"])
    assert weekly.exit_code == 2, weekly.output
    assert f"{gone} does not exist" in weekly.stderr
