"""A pitch and the chairman's decision are stamped when their model answered, not when their stage began.

On the machine's clock every PM of the week is asked at once and each answers in its own time (minutes, for a slow
model); their pitches were stamped at the instant the stage began asking, before any of them answered, and the week's
setups remembered as known then (Setup.known_at is the pitch's stamp). The decision likewise, stamped before the
chairman was asked. Models scripted at the HTTP transport; prices from CSV, as tests/test_week_lifecycle.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import llmtrade.clock
from llmtrade.cli import app
from llmtrade.market.calendar import NEW_YORK
from tests.fakes.running_clock import RunningClock
from tests.support import going_live, stored_events
from tests.test_week_lifecycle import scripted, write_market

runner = CliRunner()
ANSWER_TAKES = timedelta(minutes=3)
SLOW = {"PitchAnswer", "DecisionAnswer"}
STARTED = datetime(2026, 1, 7, 8, 0, 5, tzinfo=NEW_YORK)


def test_a_live_weeks_pitches_and_decision_are_stamped_once_answered(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    closes = write_market(tmp_path / "csv")
    answer = scripted(closes)
    clock = RunningClock(STARTED)
    answered: dict[str, datetime] = {}

    def slow(body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("response_format", {}).get("json_schema", {}).get("name")
        if name in SLOW:
            clock.advance(ANSWER_TAKES)
            answered[name] = clock.now()
        return answer(body)

    monkeypatch.delenv("LLMTRADE_NOW", raising=False)
    monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", "0")  # the database server's clock is today's
    monkeypatch.setattr(llmtrade.clock, "make_clock", lambda fixed: clock)
    with going_live(monkeypatch, slow, market=tmp_path / "csv"):
        ran = runner.invoke(app, ["run-weekly"])
    assert ran.exit_code == 0, ran.output
    url = cli_env["DATABASE_URL"]
    pitches = [
        datetime.fromisoformat(e.payload["pitch"]["timestamp"]) for e in stored_events(url, type="PitchSubmitted")
    ]
    [decided] = [
        datetime.fromisoformat(e.payload["decision"]["timestamp"]) for e in stored_events(url, type="DecisionMade")
    ]
    assert pitches and min(pitches) >= STARTED + ANSWER_TAKES, pitches
    assert decided >= answered["DecisionAnswer"], (decided, answered)
    assert decided >= max(pitches)
