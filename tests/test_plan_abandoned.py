"""Recovery looks at the broker first, and a plan that no longer fits stops only its own account.

A plan whose orders the broker holds (the run died between the broker's answer and our record) is
recorded from the broker and resumed; one whose account moved under it with none of its orders at
the broker is abandoned: a PlanAbandoned event naming the account, the reason and both positions,
written once, reported on every rerun and never sent; the other accounts trade.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.brokers.paper import PaperBroker
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.trading import Order, OrdersPlanned, Position, Side
from llmtrade.market.calendar import TradingCalendar
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import execute_plans
from tests.crash_points import Crash, dying
from tests.support import going_live, stored_events
from tests.test_checkpoint_stages import week  # noqa: F401 - `week` is a fixture
from tests.test_week_lifecycle import scripted, write_market

WEEK = date(2026, 1, 7)
MIDDAY = datetime(2026, 1, 7, 17, 0, tzinfo=UTC)  # the session is open: paper orders fill at once
CONFIG = load_config(None).config
runner = CliRunner()


class Opens:
    def opening_price(self, symbol: str, day: date) -> float | None:
        return 100.0


def _desk(storage: Storage, index: int) -> Desk:
    account = CONFIG.accounts.accounts[index]
    broker = PaperBroker(
        account.id,
        starting_cash=100_000,
        events=storage.events,
        clock=FixedClock(MIDDAY),
        calendar=TradingCalendar(),
        prices=Opens(),
        slippage_bps=0,
    )
    return Desk(account=account, broker=broker)


def _order(account_id: str, tag: str, qty: int = 10) -> Order:
    return Order(
        client_order_id=f"lt-{account_id}-{tag}",
        account_id=account_id,
        week_id=WEEK,
        symbol="SPY",
        side=Side.BUY,
        qty=qty,
        intent="open",
    )


def _plan(desk: Desk, *orders: Order) -> OrdersPlanned:
    return OrdersPlanned(account_id=desk.account.id, broker="paper", orders=list(orders), positions_before={})


def _execute(storage: Storage, desks: list[Desk], plans: list[OrdersPlanned]):  # type: ignore[no-untyped-def]
    return asyncio.run(
        execute_plans(
            storage.events,
            {d.account.id: d for d in desks},
            plans,
            CONFIG,
            {"SPY": 100.0},
            stream="week:2026-01-07:orders",
            week_id=WEEK,
            run_id="r",
        )
    )


def test_a_plan_whose_account_moved_is_abandoned_once_and_the_other_accounts_still_trade(storage: Storage) -> None:
    moved, fine = _desk(storage, 0), _desk(storage, 1)
    moved.broker.submit(_order(moved.account.id, "by-hand", qty=3))  # someone traded the account by hand
    plans = [_plan(moved, _order(moved.account.id, "open")), _plan(fine, _order(fine.account.id, "open"))]

    first = _execute(storage, [moved, fine], plans)
    again = _execute(storage, [moved, fine], plans)

    (abandoned,) = first.abandoned
    assert (abandoned.account_id, abandoned.planned_positions, abandoned.actual_positions) == (
        moved.account.id,
        {},
        {"SPY": 3},
    )
    assert "positions changed since its orders were planned" in abandoned.reason
    assert again.abandoned == [abandoned]  # reported again by the rerun
    assert len(storage.events.read(type="PlanAbandoned")) == 1  # but written once
    submitted = [e.payload["order"]["client_order_id"] for e in storage.events.read(type="OrderSubmitted")]
    assert submitted == [f"lt-{fine.account.id}-open"]  # the other account traded; the stale plan never went out
    assert moved.broker.find(f"lt-{moved.account.id}-open") is None


def test_an_order_the_broker_took_before_the_run_died_is_recorded_from_the_broker_not_sent_again(
    storage: Storage,
) -> None:
    desk = _desk(storage, 0)
    first, second = _order(desk.account.id, "close", qty=4), _order(desk.account.id, "open", qty=6)
    desk.broker.submit(first)  # accepted and filled (the market is open); the run died before recording it
    plan = OrdersPlanned(
        account_id=desk.account.id,
        broker="paper",
        orders=[first, second],
        positions_before={},  # what the account held when planned: the fill above is the plan's own
    )

    result = _execute(storage, [desk], [plan])

    assert result.abandoned == []
    recorded = [e.payload for e in storage.events.read(type="OrderSubmitted")]
    assert [(p["order"]["client_order_id"], p["result"]["status"]) for p in recorded] == [
        (first.client_order_id, "filled"),
        (second.client_order_id, "filled"),
    ]
    accepted = [e.payload["order"]["client_order_id"] for e in storage.events.read(type="PaperOrderAccepted")]
    assert accepted == [first.client_order_id, second.client_order_id]  # each reached the broker once
    assert desk.broker.account({}).positions == {"SPY": Position(symbol="SPY", qty=10, avg_price=100.0)}


def test_a_checkpoint_whose_plan_no_longer_fits_says_so_and_completes_degraded(
    week: tuple[object, str],  # noqa: F811 - the fixture imported above
) -> None:
    _fake, url = week
    with dying("OrdersPlanned", "after"), pytest.raises(Crash):  # dies once its plans are stored, before any order
        runner.invoke(app, ["checkpoint", "12:00"])
    planned = stored_events(url, type="OrdersPlanned")
    account_id = next(p.payload["account_id"] for p in planned if p.payload["orders"])
    # Someone trades that account by hand before the rerun (not one of the plan's orders).
    with open_storage(Settings(DATABASE_URL=url), FixedClock(MIDDAY)) as storage:
        broker = PaperBroker(
            account_id,
            starting_cash=100_000,
            events=storage.events,
            clock=FixedClock(MIDDAY),
            calendar=TradingCalendar(),
            prices=Opens(),
        )
        broker.submit(_order(account_id, "by-hand", qty=1))

    rerun = runner.invoke(app, ["checkpoint", "12:00"])

    assert rerun.exit_code == 0, rerun.output
    assert f"account {account_id}'s plan abandoned: positions changed" in rerun.output
    (abandoned,) = stored_events(url, type="PlanAbandoned")
    assert abandoned.payload["account_id"] == account_id
    assert len(stored_events(url, type="CheckpointCompleted")) == 1
    assert stored_events(url, type="RunFinished")[-1].payload["degraded"] is True
    others = {p.payload["account_id"] for p in planned} - {account_id}
    sent = {e.payload["order"]["account_id"] for e in stored_events(url, type="OrderSubmitted")}
    assert others <= sent  # the other accounts' checkpoint orders went out


def test_a_weekly_plan_that_no_longer_fits_completes_the_week_degraded_and_names_the_account(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = cli_env["DATABASE_URL"]
    closes = write_market(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    with going_live(monkeypatch, scripted(closes), market=tmp_path / "csv"):
        with dying("OrdersPlanned", "after"), pytest.raises(Crash):  # the week's plans stored, nothing sent
            runner.invoke(app, ["run-weekly"])
        plans = [p for p in stored_events(url, type="OrdersPlanned") if p.payload["orders"]]
        account_id = plans[0].payload["account_id"]
        # Traded by hand before the rerun, at 09:45: a trade recorded after the rerun's clock would have it refused
        # for a clock behind the books (app/clock_guard.py).
        by_hand = datetime(2026, 1, 7, 14, 45, tzinfo=UTC)
        with open_storage(Settings(DATABASE_URL=url), FixedClock(by_hand)) as storage:
            broker = PaperBroker(
                account_id,
                starting_cash=100_000,
                events=storage.events,
                clock=FixedClock(by_hand),
                calendar=TradingCalendar(),
                prices=Opens(),
            )
            broker.submit(_order(account_id, "by-hand", qty=1))
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T10:00:00-05:00")

        rerun = runner.invoke(app, ["run-weekly"])

    assert rerun.exit_code == 0, rerun.output
    assert f"account {account_id}'s plan abandoned" in rerun.output
    (done,) = stored_events(url, type="WeekCompleted")
    assert done.payload["degraded"] is True
    assert any(account_id in note and "abandoned" in note for note in done.payload["notes"])
    sent = {e.payload["order"]["account_id"] for e in stored_events(url, type="OrderSubmitted")}
    assert account_id not in sent
    assert {p.payload["account_id"] for p in plans[1:]} <= sent  # the other accounts traded
