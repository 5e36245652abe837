"""A run that redid nothing (every stage loaded from the stored week) values no close: the leaderboard's books do not
end at the close after it.

A reader's trial read an old week's postmortem by hand (`postmortem --week D`, stored, not redone) one evening after
the close; the leaderboard then said it was "as of the close" of that day, the last a run valued, though no run had
looked at the accounts after the 15:55 checkpoint: an order queued for that close (sent in session on a symbol with
daily prices only) had filled and was in `status`, not in the leaderboard's curve, which showed the account flat
(0.0% exposure) and its equity off by the fill's slippage at the same close `status` valued."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()


def _board_end() -> str:
    shown = runner.invoke(app, ["leaderboard", "--json"])
    assert shown.exit_code == 0, shown.output
    return str(json.loads(shown.stdout)["end"])


def test_status_shows_the_postmortem_that_ran_not_a_stored_one_read_again(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same trial's Monday `status` listed the postmortem's last run as Monday 07:30 (a by-hand read of the stored
    week), as if the Tuesday 16:30 postmortem had run late; it had run on time."""
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:31:00-05:00")
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # the postmortem, on time
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T07:30:00-05:00")
    assert runner.invoke(app, ["postmortem", "--week", "2026-01-07"]).exit_code == 0  # read again
    shown = runner.invoke(app, ["status", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["last_runs"]["postmortem"]["at"].startswith("2026-01-13T21:31:00")


def test_an_old_weeks_postmortem_read_after_the_close_does_not_end_the_books_at_that_close(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # the week's run
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:31:00-05:00")
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # its postmortem values Tuesday's close
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:01:00-05:00")
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # the next week's run
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T17:00:00-05:00")
    assert _board_end() == "2026-01-13"
    shown = runner.invoke(app, ["postmortem", "--week", "2026-01-07"])  # stored: every stage loaded
    assert shown.exit_code == 0, shown.output
    assert "(stored; not redone)" in shown.output
    assert _board_end() == "2026-01-13"
    # A run that does work after a close (the next checkpoint) values it, as before.
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-15T09:01:00-05:00")
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0
    assert _board_end() == "2026-01-14"
