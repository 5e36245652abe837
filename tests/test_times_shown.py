"""Every time shown to a reader is in New York, the market's zone, and labelled so. A trial's report mixed -04:00 (its
runs) with +00:00 (a killed run's note, an Alpaca fill), and status, trace and events showed UTC (+00:00) beside the
schedule's New York times. `--json` keeps the stored values; the stored events are unchanged."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime

import pytest
from typer.testing import CliRunner

from llmtrade.app.report_runs import run_lines
from llmtrade.app.report_weeks import _fill
from llmtrade.cli import app
from llmtrade.domain.events import EventPayload, NewEvent, StoredEvent
from llmtrade.domain.runs import RunKilled, RunStarted
from llmtrade.domain.streams import run_stream
from llmtrade.domain.trading import Fill, OrderFilled, Side
from tests.support import WEDNESDAY_8AM, stored_events

runner = CliRunner()
SUMMER = datetime(2026, 6, 3, 18, 0, tzinfo=UTC)  # 14:00 in New York (-04:00)


def _stored(payload: EventPayload, event_id: int, at: datetime, **where: str) -> StoredEvent:
    new = NewEvent.of(payload, stream=where.pop("stream", run_stream("r1")), run_id="r1")
    return StoredEvent(**new.model_dump(), id=event_id, version=event_id, occurred_at=at)


def test_market_time_is_new_york_with_its_offset_and_leaves_what_it_cannot_read() -> None:
    from llmtrade.domain.wording import market_time

    assert market_time(SUMMER) == "2026-06-03T14:00:00-04:00"
    assert market_time(datetime(2026, 1, 7, 13, tzinfo=UTC)) == "2026-01-07T08:00:00-05:00"
    assert market_time("2026-01-07T13:00:00+00:00", "minutes") == "2026-01-07T08:00-05:00"
    assert market_time("not yet") == "not yet" and market_time("2026-01-07T13:00:00") == "2026-01-07T13:00:00"


def test_the_reports_runs_killed_notes_and_fills_are_all_in_new_york() -> None:
    started = RunStarted(
        command="postmortem", arguments={}, mode="offline", mode_reason="x", config_source="y", version="z", lease=1
    )
    killed = RunKilled(command="postmortem", found_by="r2", last_event_type="RunStarted", last_event_at=SUMMER)
    [line] = run_lines([_stored(started, 1, SUMMER), _stored(killed, 2, SUMMER.replace(hour=19))])
    assert line.started_at == "2026-06-03T14:00:00-04:00"
    assert (
        "looked at 2026-06-03T15:00:00-04:00 (its last event: RunStarted at 2026-06-03T14:00:00-04:00)"
        in (line.detail[0])
    )
    alpaca = Fill(
        client_order_id="lt-1", account_id="acct_1", symbol="SPY", side=Side.BUY, qty=1, price=500.0, filled_at=SUMMER
    )
    filled = _stored(OrderFilled(fill=alpaca, broker="alpaca"), 3, SUMMER, stream="orders:acct_1")
    assert _fill(filled).filled_at == "2026-06-03T14:00:00-04:00"


@pytest.mark.parametrize(
    "command",
    [["status", "--offline"], ["events", "--week", "2026-01-07"], ["trace"], ["ask", "--offline", "what ran?"]],
)
def test_status_events_and_trace_show_new_york_times(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    if command == ["trace"]:
        command = ["trace", stored_events(os.environ["DATABASE_URL"], type="RunStarted")[-1].run_id]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    # The events' payloads are shown as stored (a broker's own times among them); the columns are llmtrade's.
    shown = [line.split("\t{")[0] for line in result.output.splitlines()]
    assert "2026-01-07T08:00:00-05:00" in result.output
    assert not [line for line in shown if "+00:00" in line], result.output
    if command[0] != "ask":  # ask's lines are the events' own, each time with its offset
        assert "New York" in result.output
    assert date(2026, 1, 7).isoformat() in result.output


def test_ask_with_the_clock_set_back_says_it_lists_events_from_after_the_clock(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: `ask` with LLMTRADE_NOW set back listed events recorded after it without the warning status gives."""
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-06T10:00:00-05:00")  # the Tuesday before
    result = runner.invoke(app, ["-q", "ask", "--offline", "what ran?"])
    assert result.exit_code == 0, result.output
    assert "the books hold records made after the clock" in result.stderr and "ask shows them" in result.stderr
    listed = runner.invoke(app, ["ask", "--offline", "what ran?", "--json"])
    assert "LLMTRADE_NOW" in json.loads(listed.stdout)["warnings"][0]
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T09:00:00-05:00")
    assert "after the clock" not in runner.invoke(app, ["ask", "--offline", "what ran?"]).stderr
