"""A halted account's shadow trade at a checkpoint is stamped when it is made, not when the checkpoint began.

On the machine's clock a checkpoint reads its `now`, asks each account's owner (minutes), and then records what a
halted account would have traded; the shadow fill was stamped at the run's start, before the judgement it was made
of was answered. Models scripted at the HTTP transport; prices from CSV, as
tests/test_checkpoint_decided_after_close.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import llmtrade.clock
from llmtrade.cli import app
from llmtrade.domain.breaker import BreakerState, BreakerUpdated
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import breaker_stream
from llmtrade.market.calendar import NEW_YORK
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.fakes.running_clock import RunningClock
from tests.support import going_live, stored_events
from tests.test_week_lifecycle import scripted, write_market

runner = CliRunner()
OWNERS_TAKE = timedelta(minutes=4)


def _halt(url: str, account_id: str) -> None:
    """The account halted for its losses (a drawdown halt keeps no shadow book)."""
    state = BreakerState(
        account_id=account_id,
        halted=True,
        reason="10 consecutive losing trades",
        peak_equity=100_000.0,
        consecutive_losses=10,
        consecutive_wins=0,
        halted_for="losses",
    )
    clock = llmtrade.clock.FixedClock(datetime(2026, 1, 7, 9, 0, tzinfo=NEW_YORK))
    with open_storage(Settings(DATABASE_URL=url), clock) as storage:
        stream = breaker_stream(account_id)
        event = NewEvent.of(BreakerUpdated(state=state, trades_seen=0), stream=stream, account_id=account_id)
        storage.events.append([event])


def test_a_checkpoints_shadow_trade_is_stamped_once_its_judgement_is_in(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    closes = write_market(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    answer = scripted(closes)
    clocks: list[RunningClock] = []

    def slow(body: dict[str, Any]) -> dict[str, Any]:
        if clocks and body.get("response_format", {}).get("json_schema", {}).get("name") == "CheckpointDecision":
            clocks[0].advance(OWNERS_TAKE / 4)  # each owner takes its time
        return answer(body)

    with going_live(monkeypatch, slow, market=tmp_path / "csv"):
        assert runner.invoke(app, ["run-weekly"]).exit_code == 0
        url = cli_env["DATABASE_URL"]
        accounts = sorted({e.account_id for e in stored_events(url, type="OrdersPlanned") if e.account_id})
        for account in accounts:
            _halt(url, account)
        monkeypatch.delenv("LLMTRADE_NOW")
        monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", "0")  # the database server's clock is today's
        clock = RunningClock(datetime(2026, 1, 7, 12, 0, 5, tzinfo=NEW_YORK))
        clocks.append(clock)
        began = clock.now()
        monkeypatch.setattr(llmtrade.clock, "make_clock", lambda fixed: clock)
        ran = runner.invoke(app, ["checkpoint", "12:00"])

    assert ran.exit_code == 0, ran.output
    shadows = stored_events(url, type="ShadowTraded")
    assert shadows, "a halted account's judgement moves its shadow book"
    for event in shadows:
        filled = datetime.fromisoformat(event.payload["fill"]["filled_at"])
        assert filled > began + timedelta(minutes=1), (filled, began)
        assert filled <= event.occurred_at + timedelta(seconds=1)


def test_a_shadow_trade_made_a_moment_past_the_close_stays_in_the_session_it_was_priced_in() -> None:
    # The checkpoint looked whether it was late (workflows/checkpoint_trade.py `_late`) at 15:59:59.9, in session; the
    # shadow trade was made a moment after, past 16:00, at the session's prices: stamped at the close, not after it.
    from types import SimpleNamespace

    from llmtrade.config.loader import load_config
    from llmtrade.market.calendar import TradingCalendar
    from llmtrade.workflows.workbench import Workbench

    clock = RunningClock(datetime(2026, 1, 7, 15, 50, tzinfo=NEW_YORK))
    market = SimpleNamespace(calendar=TradingCalendar())
    config = load_config(None).config
    bench = Workbench(config, None, None, None, market, [], None, clock.now(), "r", clock=clock)  # type: ignore[arg-type]
    clock.advance(timedelta(minutes=10, seconds=1))
    assert bench.made_now() > datetime(2026, 1, 7, 16, 0, tzinfo=NEW_YORK)
    assert bench.made_in_session() == datetime(2026, 1, 7, 16, 0, tzinfo=NEW_YORK)
