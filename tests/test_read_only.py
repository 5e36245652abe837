"""Read-only commands and dry runs write nothing: the event count is the same before and after.

A completed offline week is set up first (LLMTRADE_NOW fixed), then at noon every command that
only looks (or only rehearses) runs through the CLI. At noon the paper orders placed at 08:00 are
due to fill, so valuing an account would settle them: that too must stay out of the database.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.support import FIXED_NOW

runner = CliRunner()


def _count(url: str) -> int:
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        return storage.events.count()


@pytest.fixture
def completed_week(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    ran = runner.invoke(app, ["run-weekly", "--json"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["orders"]
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    return cli_env["DATABASE_URL"]


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["status", "--json"],
        ["checkpoint", "12:00", "--dry-run", "--json"],
        ["run-weekly", "--dry-run", "--json"],
        ["events"],
        ["events", "--json"],
        ["schedule", "show"],
        ["config", "show"],
        ["trading", "status", "--json"],
        ["db", "status", "--json"],
    ],
    ids=" ".join,
)
def test_a_read_only_command_leaves_the_event_count_unchanged(completed_week: str, command: list[str]) -> None:
    before = _count(completed_week)
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert _count(completed_week) == before


def test_a_dry_run_checkpoint_decides_what_the_real_one_then_does(completed_week: str) -> None:
    dry = runner.invoke(app, ["checkpoint", "12:00", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    rehearsed = json.loads(dry.stdout)
    assert rehearsed["dry_run"] is True and not rehearsed["repeated"]
    real = json.loads(runner.invoke(app, ["checkpoint", "12:00", "--json"]).stdout)
    assert not real["repeated"]  # the rehearsal left no checkpoint behind
    actions = {a["account_id"]: a["checkpoint"] and a["checkpoint"]["action"] for a in real["accounts"]}
    assert actions == {a["account_id"]: a["checkpoint"] and a["checkpoint"]["action"] for a in rehearsed["accounts"]}


def test_status_values_accounts_the_same_whether_fills_were_stored_or_not(completed_week: str) -> None:
    first = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    again = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert [a["equity"] for a in first["accounts"]] == [a["equity"] for a in again["accounts"]]
    assert any(a["positions"] for a in first["accounts"])  # the 08:00 orders have filled, in the view
