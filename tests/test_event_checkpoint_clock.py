"""Event checkpoints on the machine's moving clock: one wake-up runs each fired account's checkpoint in turn, and the
real time moves on while each runs (a model answering in minutes). Each is judged at its own time, not at the
wake-up's start: the second one's prices are those of when it runs, as a scheduled checkpoint's are."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import llmtrade.app.event_checkpoints as event_checkpoints
import llmtrade.clock
from llmtrade.cli import app
from llmtrade.market.calendar import NEW_YORK
from tests.fakes.running_clock import RunningClock
from tests.support import stored_events
from tests.test_event_checkpoint import _config
from tests.test_week_lifecycle import write_market

runner = CliRunner()
WAKE = datetime(2026, 1, 7, 13, 17, tzinfo=NEW_YORK)
TOOK = timedelta(minutes=6)  # each event checkpoint's run on the real clock: its owner asked, a model answering


def _intraday_by_minute(folder: Path, symbol: str, base: float) -> None:
    """A row every minute of Wednesday's session: `base` until 13:10, then 7% up plus a cent a minute, so a price
    says the minute it is of."""
    rows = ["Timestamp,Price"]
    at = datetime(2026, 1, 7, 9, 30, tzinfo=NEW_YORK)
    while at <= datetime(2026, 1, 7, 16, 0, tzinfo=NEW_YORK):
        minutes = (at - datetime(2026, 1, 7, 13, 10, tzinfo=NEW_YORK)) / timedelta(minutes=1)
        price = base if minutes < 0 else base * 1.07 + 0.01 * minutes
        rows.append(f"{at.isoformat()},{round(price, 4)}")
        at += timedelta(minutes=1)
    (folder / "intraday").mkdir(exist_ok=True)
    (folder / "intraday" / f"{symbol}.csv").write_text("\n".join(rows) + "\n")


def _wake(monkeypatch: pytest.MonkeyPatch, at: str) -> list[dict[str, Any]]:
    monkeypatch.setenv("LLMTRADE_NOW", at)
    result = runner.invoke(app, ["run-due", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _through_noon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closes = write_market(tmp_path / "csv")
    for symbol, close in closes.items():
        _intraday_by_minute(tmp_path / "csv", symbol, close * (0.90 if symbol == "SPY" else 1.0))
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "csv")
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(tmp_path / "csv"))
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(_config(tmp_path / "config")))
    assert [r["job"] for r in _wake(monkeypatch, "2026-01-07T08:00:00-05:00")] == ["weekly:2026-01-07"]
    assert [r["job"] for r in _wake(monkeypatch, "2026-01-07T12:01:00-05:00")] == ["checkpoint:2026-01-07T12:00"]


def _running(monkeypatch: pytest.MonkeyPatch, start: datetime) -> RunningClock:
    """The machine's clock from `start` (no LLMTRADE_NOW), each event checkpoint's run taking TOOK on it. The database
    server's clock is today's, so the skew check (app/clock_skew.py) is off."""
    clock = RunningClock(start)
    monkeypatch.delenv("LLMTRADE_NOW")
    monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", "0")
    monkeypatch.setattr(llmtrade.clock, "make_clock", lambda fixed: clock)
    real_run = event_checkpoints.run_checkpoint

    def slow(*args: Any, **kwargs: Any) -> Any:
        try:
            return real_run(*args, **kwargs)
        finally:
            clock.advance(TOOK)

    monkeypatch.setattr(event_checkpoints, "run_checkpoint", slow)
    return clock


def test_each_event_checkpoint_of_a_wake_up_is_priced_when_it_runs_not_when_the_wake_up_began(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _through_noon(tmp_path, monkeypatch)
    _running(monkeypatch, WAKE)
    result = runner.invoke(app, ["run-due", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    ran = json.loads(result.stdout)
    assert len(ran) >= 4, ran  # the premise: several accounts hold an instrument that moved
    url = cli_env["DATABASE_URL"]
    started = [e.occurred_at for e in stored_events(url, type="RunStarted") if e.occurred_at >= WAKE]
    fetched = [e for e in stored_events(url, type="QuoteFetched") if e.occurred_at >= WAKE]
    assert len(started) == len(ran)
    for run, (begun, then) in enumerate(zip(started, [*started[1:], None], strict=True)):
        # The prices each checkpoint judged at: fetched after its run began (and before the next one's).
        mine = [e for e in fetched if e.occurred_at >= begun and (then is None or e.occurred_at < then)]
        assert mine, f"checkpoint {run} fetched no prices"
        for event in mine:
            for quote in event.payload["quotes"]:
                as_of = datetime.fromisoformat(quote["as_of"])
                assert begun - timedelta(minutes=1) <= as_of <= begun, (run, begun, quote)


def test_an_event_checkpoint_whose_deadline_passed_while_the_wake_up_ran_is_left_to_its_closing(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fired at 15:50; the third begins at 16:02, past its deadline (the close): judged then, it would be at prices of
    # no session, its orders queued for tomorrow's open. It is closed as any checkpoint past its deadline is.
    _through_noon(tmp_path, monkeypatch)
    clock = _running(monkeypatch, datetime(2026, 1, 7, 15, 50, tzinfo=NEW_YORK))
    result = runner.invoke(app, ["run-due", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    ran = [r["job"] for r in json.loads(result.stdout)]
    url = cli_env["DATABASE_URL"]
    fired = [e.payload["key"] for e in stored_events(url, type="EventCheckpointTriggered")]
    assert len(fired) >= 4 and ran == fired[:2], (fired, ran)
    taken = {e.account_id for e in stored_events(url, type="CheckpointTaken") if ":event:" in e.stream}
    assert taken == {key.rsplit(":", 1)[1] for key in ran}
    clock.advance(timedelta(minutes=5))  # the next wake-up closes the others, not judged
    result = runner.invoke(app, ["run-due", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    closed = [
        e.payload["time"] for e in stored_events(url, type="CheckpointCompleted") if ":event:" in e.payload["time"]
    ]
    assert sorted(closed) == sorted(key.split("T", 1)[1] for key in fired)
