"""A backtest's stop names the step it stopped in: the discovery before a week's weekly run, a look-ahead audit's
cut-off rerun, or the job itself. A trial's `backtest --replay` with an empty cache missed the discovery's picker
call and said it stopped "at its weekly run": the user looked for the weekly run's call. Every kind of stop (a replay
miss, the budget, a provider down) in each step names that step."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from tests.fakes.committee_answers import committee_answer
from tests.fakes.llm_faults import Fault
from tests.fakes.openai_server import FakeOpenAIServer
from tests.test_backtest_replay import _db, _rows
from tests.test_backtest_replay import models as models

runner = CliRunner()
WEEK = "2026-01-07"
DISCOVERY = f"stopped in week {WEEK}, at its discovery before the weekly run"


def _stop(name: str, *extra: str) -> tuple[int, str]:
    # Names of this file's own: a backtest's database outlives its test, and another file's "audited" was resumed.
    result = runner.invoke(cli, ["backtest", "--from", WEEK, "--to", WEEK, "--name", f"steps-{name}", *extra])
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")] or [result.output]
    return result.exit_code, line


def _picker_down(body: dict[str, Any]) -> Fault:
    if body["messages"][0]["content"].startswith("You pick symbols"):  # a wait too long to hold: exit 75 at once
        return Fault(429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"Retry-After": "3600"})
    return Fault(200, committee_answer(body))


@pytest.mark.parametrize(
    ("extra", "code", "own_words"),
    [
        (("--replay",), 1, "no cached answer for the picker call"),  # the trial's: an empty cache
        (("--replay", "--live-misses", "0"), 1, "backtest budget $0.0000 would be passed"),
        (("--replay", "--live-misses", "100", "down"), 75, "slow down"),
    ],
)
def test_a_stop_in_the_discovery_before_the_weekly_run_names_the_discovery(
    models: FakeOpenAIServer, extra: tuple[str, ...], code: int, own_words: str
) -> None:
    if extra[-1] == "down":
        models.behaviour, extra = _picker_down, extra[:-1]
    got, line = _stop(f"found{code}{len(extra)}", *extra)
    assert got == code, line
    assert own_words in line and DISCOVERY in line, line
    assert "at its weekly run" not in line


def test_a_stop_in_an_audits_cut_off_rerun_names_the_rerun_and_in_the_real_run_the_job(
    models: FakeOpenAIServer, cli_env: dict[str, str]
) -> None:
    code, line = _stop("rerun", "--replay", "--audit", "1")  # an empty cache: the discovery's rerun misses first
    assert code == 1 and "in the look-ahead audit's cut-off rerun of its discovery before the weekly run" in line, line

    assert _stop("full", "--replay", "--live-misses", "100")[0] == 0
    live = cli_env["DATABASE_URL"]
    [(key,)] = _rows(
        _db(live, "steps-full"),
        "SELECT payload->>'cache_key' FROM events WHERE type = 'LLMCallCompleted' AND payload->>'role' = 'pm_pitch'"
        " AND payload->>'model' = 'google/gemini-3-pro-preview'",
    )
    _rows(live, "DELETE FROM llm_cache WHERE key = %s RETURNING key", key)

    code, line = _stop("audited", "--replay", "--audit", "1")
    assert code == 1 and f"stopped in week {WEEK}, in the look-ahead audit's cut-off rerun of its weekly run" in line
    code, line = _stop("plain", "--replay")
    assert code == 1 and f"stopped in week {WEEK}, at its weekly run" in line, line
    assert json.dumps(line)  # one line each
