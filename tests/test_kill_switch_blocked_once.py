"""An order the kill switch blocks is recorded blocked once per time the switch is turned off, not at every run that
meets it again. A held account's week planned while trading is disabled keeps the week due (week_holds.py
`held_plans_unsent`: a kill switch's block is sent once trading is enabled), so run-due ran the weekly run again at
every wake-up and each run recorded another OrderBlocked of the same order, twelve an hour piling up in the events,
`ask` and the report until `trading enable`. The run still waits (exit 75) each time; the order still goes once
trading is enabled. Alpaca through the real alpaca-py client against the loopback fake."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from typer.testing import CliRunner

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.order_plan import plan_orders
from llmtrade.cli import app
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import OrdersPlanned
from llmtrade.errors import KillSwitchOn
from llmtrade.pipeline.context import PipelineContext
from llmtrade.risk.controls import set_trading
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution_stage import ExecutionStage
from llmtrade.workflows.trading_stages import LAST_CLOSES, PLANS, PRICES
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_broker import KEY_ID, SECRET
from tests.test_checkpoint_stuck_cancel import _stuck_cancel
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    WEEKLY,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)
from tests.test_reconciliation import ACCOUNT, CONFIG
from tests.test_weekly_stuck_cancel_held import NEXT_WEEK, NEXT_WEEKLY, _of_week

WEEK = date(2026, 1, 7)
STREAM = week_stream(WEEK, ORDERS)
QUOTES = {"XYZ": 50.0}


def _weekly(storage: Storage, desk: Desk, plan: OrdersPlanned, run_id: str) -> None:
    """The week's execution stage (run-weekly's rerun for a held account, at a wake-up)."""
    context = PipelineContext(run_id=run_id, week_id=WEEK).with_values(
        (PLANS, [plan]), (PRICES, QUOTES), (LAST_CLOSES, {})
    )
    asyncio.run(ExecutionStage([desk], storage.events, WEEK, CONFIG, dry_run=False).run(context))


def _blocked(storage: Storage) -> list[str]:
    return [e.payload["reason"] for e in storage.events.read_stream(STREAM) if e.type == "OrderBlocked"]


def test_an_order_the_kill_switch_blocks_is_recorded_once_per_switch_off_and_sent_once_after(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as server:
        server.set_price("XYZ", QUOTES["XYZ"])
        server.add_asset("XYZ")
        desk = Desk(ACCOUNT, AlpacaBroker("acct_1", KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2.0))
        [order] = plan_orders(WEEK, "acct_1", {}, "XYZ", 20)
        plan = OrdersPlanned(account_id="acct_1", broker="alpaca", orders=[order], positions_before={})
        set_trading(storage.events, False, "drill")

        for wake_up in ("w1", "w2", "w3"):
            with pytest.raises(KillSwitchOn, match=r"trading is disabled \(drill\): 1 order\(s\) not sent"):
                _weekly(storage, desk, plan, wake_up)  # each wake-up still waits

        assert _blocked(storage) == ["kill switch: drill"]  # before: one more at each wake-up

        set_trading(storage.events, True, "")
        set_trading(storage.events, False, "again")  # turned off again before any run sent it: a new cause
        for wake_up in ("w4", "w5"):
            with pytest.raises(KillSwitchOn):
                _weekly(storage, desk, plan, wake_up)
        assert _blocked(storage) == ["kill switch: drill", "kill switch: again"]

        set_trading(storage.events, True, "")
        _weekly(storage, desk, plan, "w6")
        _weekly(storage, desk, plan, "w7")
        assert server.count("POST", "/v2/orders") == 1  # sent once trading is enabled, once
        assert len(_blocked(storage)) == 2


def test_a_held_accounts_order_blocked_by_the_kill_switch_is_recorded_once_over_run_dues_wake_ups(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """Through the CLI: acct_1's week held (its cancel stuck at Alpaca), planned by a wake-up after it ended with
    trading disabled; the wake-ups after it ran the week again, each recording another OrderBlocked."""
    runs.fresh_beside(alpaca)
    runs.invoke(["run-weekly"], WEEKLY)
    _stuck_cancel(alpaca)
    runs.invoke(["run-weekly"], NEXT_WEEKLY)  # acct_1 held
    alpaca.server.settle_cancels()
    runs.invoke(["trading", "disable", "--reason", "drill"], NEXT_WEEKLY)
    posts = alpaca.server.count("POST", "/v2/orders")

    for at in ("08:35", "08:40", "08:45"):
        runs.monkeypatch.setenv("LLMTRADE_NOW", f"{NEXT_WEEK}T{at}:00-05:00")
        woke = CliRunner().invoke(app, ["-q", "run-due"])
        assert woke.exit_code == 75, woke.output  # waits at each wake-up, as before

    [mine] = [p for p in _of_week(runs, "OrdersPlanned") if p["account_id"] == ALPACA_ACCOUNT]
    ids = [o["client_order_id"] for o in mine["orders"]]  # type: ignore[attr-defined]
    blocked = [p["client_order_id"] for p in _of_week(runs, "OrderBlocked")]
    assert ids and sorted(blocked) == sorted(ids)  # before: once more at each wake-up
    assert alpaca.server.count("POST", "/v2/orders") == posts

    runs.invoke(["trading", "enable"], f"{NEXT_WEEK}T08:47:00-05:00")
    runs.invoke(["-q", "run-due"], f"{NEXT_WEEK}T08:50:00-05:00")
    assert alpaca.server.count("POST", "/v2/orders") - posts == len(ids)  # sent once trading is enabled
    assert all(n == 1 for n in alpaca.submitted.values())
