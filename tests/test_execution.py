"""The execution stage sends every account's orders concurrently, each once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime

from llmtrade.brokers.paper import PaperBroker
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.trading import AccountSnapshot, Fill, Order, OrderResult, OrdersPlanned, OrderStatus, Side
from llmtrade.market.calendar import TradingCalendar
from llmtrade.pipeline.context import PipelineContext
from llmtrade.risk.controls import halted
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import LAST_CLOSES, PRICES, revaluer, send_orders
from llmtrade.workflows.execution_stage import EXECUTED, ExecutionStage
from llmtrade.workflows.trading_stages import PLANS

WEEK = date(2026, 1, 7)
ACCOUNTS = load_config(None).config.accounts.accounts[:5]


class SlowBroker:
    """A broker whose every submit takes a while, counting how many are in flight at once."""

    name = "slow"
    records_own_ends = True
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def account(self, prices: Mapping[str, float]) -> AccountSnapshot:
        return AccountSnapshot(account_id="x", cash=0, equity=0, buying_power=0, positions={})

    def look_at(self, prices: Mapping[str, float]) -> None:
        return None

    def record_canceled(self, *, run_id: str | None) -> list[str]:
        return []

    def submit(self, order: Order) -> OrderResult:
        with SlowBroker.lock:
            SlowBroker.in_flight += 1
            SlowBroker.peak = max(SlowBroker.peak, SlowBroker.in_flight)
        time.sleep(0.05)
        with SlowBroker.lock:
            SlowBroker.in_flight -= 1
        self.submitted.append(order.client_order_id)
        return OrderResult(client_order_id=order.client_order_id, status=OrderStatus.ACCEPTED)

    def find(self, client_order_id: str) -> OrderResult | None:
        return None

    def is_shortable(self, symbol: str) -> bool:
        return True

    def open_orders(self) -> list[Order]:
        return []

    def fills(self, since: datetime | None = None) -> list[Fill]:
        return []


def test_accounts_execute_in_parallel_and_each_order_is_sent_once(storage: Storage) -> None:
    desks = [Desk(account, SlowBroker()) for account in ACCOUNTS]
    plans = [
        OrdersPlanned(
            account_id=account.id,
            broker="slow",
            orders=[
                Order(
                    client_order_id=f"lt-20260107-{account.id}-SPY-open",
                    account_id=account.id,
                    week_id=WEEK,
                    symbol="SPY",
                    side=Side.BUY,
                    qty=1,
                    intent="open",
                )
            ],
            positions_before={},
        )
        for account in ACCOUNTS
    ]
    context = PipelineContext(run_id="r", week_id=WEEK).with_values(
        (PLANS, plans), (PRICES, {"SPY": 100.0}), (LAST_CLOSES, {})
    )
    stage = ExecutionStage(desks, storage.events, WEEK, load_config(None).config, dry_run=False)
    result = asyncio.run(stage.run(context))
    assert SlowBroker.peak > 1  # several accounts' submissions overlapped
    assert [len(d.broker.submitted) for d in desks] == [1] * len(ACCOUNTS)
    assert len(result.get(EXECUTED)) == len(ACCOUNTS)
    assert result.loaded == ()
    rerun = asyncio.run(stage.run(context))  # a rerun sends nothing new
    assert rerun.loaded == ("execution",)
    assert [len(d.broker.submitted) for d in desks] == [1] * len(ACCOUNTS)


def test_the_breaker_stops_the_next_order_once_a_fill_trips_it(storage: Storage) -> None:
    config = load_config(None).config

    class Opens:
        def opening_price(self, symbol: str, day: date) -> float | None:
            return 100.0

    account = config.accounts.accounts[0]
    broker = PaperBroker(
        account.id,
        starting_cash=account.starting_cash,
        events=storage.events,
        clock=FixedClock(datetime(2026, 1, 7, 17, 0, tzinfo=UTC)),  # market open: fills at once
        calendar=TradingCalendar(),
        prices=Opens(),
        slippage_bps=5,  # every round trip loses its slippage: a losing trade
    )
    desk = Desk(account, broker)
    after = revaluer(storage.events, desk, config, {"SPY": 100.0}, week_id=WEEK, run_id="r")

    def order(n: int, side: Side) -> Order:
        return Order(
            client_order_id=f"t-{n}-{side.value}",
            account_id=account.id,
            week_id=WEEK,
            symbol="SPY",
            side=side,
            qty=1,
            intent="open",
        )

    trips = [order(n, side) for n in range(9) for side in (Side.BUY, Side.SELL)]
    send_orders(storage.events, broker, trips, stream="orders", week_id=WEEK, run_id="r", after_fill=after)
    assert halted(storage.events, account.id) == (False, "")  # nine losses: not yet
    tenth = [order(9, Side.BUY), order(9, Side.SELL), order(10, Side.BUY)]
    send_orders(storage.events, broker, tenth, stream="orders", week_id=WEEK, run_id="r", after_fill=after)
    stop, why = halted(storage.events, account.id)
    assert stop and "10" in why
    blocked = storage.events.read(type="OrderBlocked")
    assert [b.payload["client_order_id"] for b in blocked] == ["t-10-buy"]
    assert blocked[0].payload["reason"].startswith("circuit breaker:")
