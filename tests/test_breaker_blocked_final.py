"""An order the circuit breaker blocked is final for its plan: never sent by a rerun of that plan, and never waited
for. The weekly run's hold (week_holds.py `held_plans_unsent`) took the breaker's block as standing, but a
checkpoint's rerun (checkpoint_trade.py `_unsent`, checkpoint_unpriced.py `unsent`) counted the blocked order unsent:
a checkpoint killed after sending a plan whose opening leg the breaker blocked, rerun while the plan's symbol had no
price, waited for that price (exit 75 at every wake-up to its deadline) to send an order it would only block again,
and a rerun of the plan (send_orders) checked the order again, recording another OrderBlocked each time, or sending it
once the halt was lifted, at a price its decision was not made at (a halt cancels the opening orders it finds queued:
one it blocked before it went is no more the plan's). The scripted week of tests/test_week_lifecycle.py on a real
PostgreSQL: acct_2 holds TLT and FLIPs it at noon (sell the long, then sell short)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.breaker import BreakerState, BreakerUpdated
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import breaker_stream
from llmtrade.market.calendar import NEW_YORK
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from llmtrade.workflows.checkpoint_trade import ExecuteStage
from tests.support import stored_events
from tests.test_checkpoint_unpriced import _noon_killed_in, _noon_orders
from tests.test_event_checkpoint import _intraday
from tests.test_week_lifecycle import week  # noqa: F401 (the fixture)

runner = CliRunner()


def _breaker(url: str, *, halted: bool) -> None:
    """acct_2 halted for its losses at noon (a loss halt stays through a valuation), or resumed by hand."""
    state = BreakerState(
        account_id="acct_2",
        halted=halted,
        reason="10 consecutive losing trades" if halted else "reset by hand",
        peak_equity=100_000.0,
        consecutive_losses=10 if halted else 0,
        consecutive_wins=0,
        manual=not halted,
        halted_for="losses" if halted else None,
    )
    with open_storage(Settings(DATABASE_URL=url), FixedClock(datetime(2026, 1, 7, 12, 0, tzinfo=NEW_YORK))) as storage:
        event = NewEvent.of(
            BreakerUpdated(state=state, trades_seen=0), stream=breaker_stream("acct_2"), account_id="acct_2"
        )
        storage.events.append([event])


def _blocked(url: str) -> list[str]:
    return [e.payload["client_order_id"] for e in stored_events(url, type="OrderBlocked")]


def _sent_then_killed(monkeypatch: pytest.MonkeyPatch, url: str) -> str:
    """Noon decided (acct_2's FLIP), killed before it sent; acct_2 then halted; the rerun sends its close, the breaker
    blocks its opening leg, and the run is killed once its execute stage is done. The blocked order's id."""
    _noon_killed_in(monkeypatch, ExecuteStage)
    _breaker(url, halted=True)
    run = ExecuteStage.run

    async def sent_then_killed(self: ExecuteStage, context: Any) -> Any:
        await run(self, context)
        raise KeyboardInterrupt  # like a kill, once every order went

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ExecuteStage, "run", sent_then_killed)
        assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code != 0
    [blocked] = _blocked(url)
    assert [cid for account, cid in _noon_orders(url) if account == "acct_2"] != []  # its close went
    assert blocked not in {cid for _, cid in _noon_orders(url)}
    assert not stored_events(url, type="CheckpointCompleted")
    return blocked


def test_a_checkpoint_whose_plan_the_breaker_blocked_ends_without_its_price_instead_of_waiting(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _, url, closes = week
    blocked = _sent_then_killed(monkeypatch, url)
    _intraday(tmp_path / "csv", "TLT", closes["TLT"], [("09:30", 0.56)])  # then acct_2's TLT has no price

    rerun = runner.invoke(app, ["checkpoint", "12:00"])

    assert rerun.exit_code == 0, rerun.output  # before: 75, waiting for TLT's price to its deadline
    assert "TLT (no price now)" not in rerun.output
    assert len(stored_events(url, type="CheckpointCompleted")) == 1
    assert not stored_events(url, type="StageDeferred")
    assert _blocked(url) == [blocked]  # blocked once
    assert blocked not in {cid for _, cid in _noon_orders(url)}


def test_a_rerun_of_the_plan_never_sends_the_order_the_breaker_blocked_once_the_halt_is_lifted(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, url, _ = week
    blocked = _sent_then_killed(monkeypatch, url)
    _breaker(url, halted=False)  # `breaker reset acct_2`, before the rerun

    rerun = runner.invoke(app, ["checkpoint", "12:00"])

    assert rerun.exit_code == 0, rerun.output
    orders = _noon_orders(url)
    assert blocked not in {cid for _, cid in orders}  # before: sent now, at a price its decision was not made at
    assert len(orders) == len(set(orders))
    assert _blocked(url) == [blocked]
    assert len(stored_events(url, type="CheckpointCompleted")) == 1
