"""What `status` says, line by line, as a trial read it: the cost once, beside the calls it is of, and every instant in
one time zone (LLMTRADE_NOW given in New York time had the heading at -05:00 above runs stamped +00:00), New York's
as everywhere a time is shown (domain/wording.py market_time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock

runner = CliRunner()


def test_a_fixed_clock_given_in_new_york_time_reads_in_utc() -> None:
    new_york = timezone(timedelta(hours=-5))
    now = FixedClock(datetime(2026, 1, 7, 8, 0, tzinfo=new_york)).now()
    assert now == datetime(2026, 1, 7, 13, 0, tzinfo=UTC)
    assert now.isoformat() == "2026-01-07T13:00:00+00:00"


def test_status_after_an_offline_week_says_one_cost_and_one_time_zone(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T10:00:00-05:00")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    heading = next(line for line in lines if line.startswith("== status as of"))
    # One zone, the market's (New York, as the schedule and the report): it was UTC here alone.
    assert heading.startswith("== status as of 2026-01-08T10:00:00-05:00 New York"), heading
    run = next(line for line in lines if line.startswith("run-weekly\t"))
    assert "-05:00" in run and "+00:00" not in result.output, run
    cost = next(line for line in lines if line.startswith("model calls this week"))
    assert cost.count("$") == 1, cost
    assert "offline rules answers (no model, no cost)" in cost, cost
