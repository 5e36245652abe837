"""A breaker that protects: a halted account may reduce or close but never open or add, a halt
cancels the account's queued opening orders, resizes are not trades, and a loss-streak halt lifts
after winning shadow trades (what the halted account would have traded, valued, never sent)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from llmtrade.brokers.paper import PaperBroker
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.config.models import Config
from llmtrade.domain.breaker import BreakerState
from llmtrade.domain.events import NewEvent
from llmtrade.domain.trading import AccountSnapshot, Fill, Order, RiskVerdict, Side, TradeIntent
from llmtrade.market.calendar import TradingCalendar
from llmtrade.risk import controls, gate
from llmtrade.risk.controls import (
    UNCOUNTED,
    breaker_state,
    evaluate_breaker,
    halted,
    record_shadow,
)
from llmtrade.risk.halt_cancels import cancel_opening_orders
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import revaluer, send_orders

WEEK = date(2026, 1, 5)
OPEN = datetime(2026, 1, 7, 17, 0, tzinfo=UTC)  # Wednesday 12:00 New York: the market is open
EVENING = datetime(2026, 1, 7, 23, 0, tzinfo=UTC)  # 18:00 New York: closed, orders queue for the open


class Clock:
    real = False  # an instant the test sets (Clock.real)

    def __init__(self, now: datetime) -> None:
        self.instant = now

    def now(self) -> datetime:
        return self.instant


class Opens:
    """Every symbol opens at 100, except what a test sets."""

    def __init__(self) -> None:
        self.price: dict[str, float] = {}

    def opening_price(self, symbol: str, day: date) -> float | None:
        return self.price.get(symbol, 100.0)


@pytest.fixture
def config() -> Config:
    return load_config(None).config


def _broker(storage: Storage, config: Config, clock: Clock, opens: Opens, slippage_bps: float = 5) -> PaperBroker:
    account = config.accounts.accounts[0]
    return PaperBroker(
        account.id,
        starting_cash=account.starting_cash,
        events=storage.events,
        clock=clock,
        calendar=TradingCalendar(),
        prices=opens,
        slippage_bps=slippage_bps,
    )


def _order(account_id: str, name: str, symbol: str, side: Side, qty: int, intent: str) -> Order:
    return Order(
        client_order_id=f"t-{name}",
        account_id=account_id,
        week_id=WEEK,
        symbol=symbol,
        side=side,
        qty=qty,
        intent=intent,
    )


def _losing_trips(account_id: str, n: int) -> list[Fill]:
    """`n` one-share round trips of a symbol the account never trades, each losing a dollar."""
    fills = []
    for k in range(n):
        for side, price in ((Side.BUY, 100.0), (Side.SELL, 99.0)):
            fills.append(
                Fill(
                    client_order_id=f"loss{k}{side}",
                    account_id=account_id,
                    symbol="ZZZ",
                    side=side,
                    qty=1,
                    price=price,
                    filled_at=OPEN - timedelta(days=30),
                )
            )
    return fills


def _halt_for_losses(storage: Storage, config: Config, account_id: str) -> None:
    evaluate_breaker(
        storage.events,
        account_id,
        starting_equity=100_000,
        equity=100_000,
        fills=_losing_trips(account_id, config.risk.circuit_breaker.halt_consecutive_losses),
        config=config.risk.circuit_breaker,
        week_id=WEEK,
        run_id="r",
    )
    stop, why = halted(storage.events, account_id)
    assert stop and "10 consecutive losing trades" in why


def test_a_halted_accounts_exit_is_sent_and_its_open_is_blocked(storage: Storage, config: Config) -> None:
    broker = _broker(storage, config, Clock(OPEN), Opens())
    account_id = broker.account_id
    send_orders(
        storage.events,
        broker,
        [_order(account_id, "buy", "SPY", Side.BUY, 10, "open")],
        stream="o",
        week_id=WEEK,
        run_id="r",
    )
    _halt_for_losses(storage, config, account_id)
    plan = [
        _order(account_id, "exit", "SPY", Side.SELL, 10, "exit"),
        _order(account_id, "flip-open", "SPY", Side.SELL, 16, "open"),
        _order(account_id, "qqq", "QQQ", Side.BUY, 5, "open"),
    ]
    send_orders(storage.events, broker, plan, stream="o", week_id=WEEK, run_id="r")
    sent = [e.payload["order"]["client_order_id"] for e in storage.events.read(type="OrderSubmitted")]
    assert sent == ["t-buy", "t-exit"]
    blocked = storage.events.read(type="OrderBlocked")
    assert [b.payload["client_order_id"] for b in blocked] == ["t-flip-open", "t-qqq"]
    assert all("may only reduce or close" in b.payload["reason"] for b in blocked)
    assert broker.account({}).positions == {}  # the losing position is gone, nothing new opened


def test_two_queued_closes_cannot_take_a_halted_account_short(storage: Storage, config: Config) -> None:
    clock = Clock(OPEN)
    broker = _broker(storage, config, clock, Opens())
    account_id = broker.account_id
    send_orders(
        storage.events,
        broker,
        [_order(account_id, "buy", "SPY", Side.BUY, 10, "open")],
        stream="o",
        week_id=WEEK,
        run_id="r",
    )
    _halt_for_losses(storage, config, account_id)
    clock.instant = EVENING
    closes = [
        _order(account_id, "exit", "SPY", Side.SELL, 10, "exit"),
        _order(account_id, "exit2", "SPY", Side.SELL, 10, "exit"),
    ]
    send_orders(storage.events, broker, closes, stream="o", week_id=WEEK, run_id="r")
    assert [o.client_order_id for o in broker.open_orders()] == ["t-exit"]  # the second would have opened a short
    assert [b.payload["client_order_id"] for b in storage.events.read(type="OrderBlocked")] == ["t-exit2"]


def test_a_halt_cancels_the_queued_opening_orders_and_keeps_the_queued_close(storage: Storage, config: Config) -> None:
    clock = Clock(OPEN)
    broker = _broker(storage, config, clock, Opens())
    account_id = broker.account_id
    send_orders(
        storage.events,
        broker,
        [_order(account_id, "buy", "SPY", Side.BUY, 10, "open")],
        stream="o",
        week_id=WEEK,
        run_id="r",
    )
    clock.instant = EVENING  # the week roll's batch queues for the next open
    batch = [
        _order(account_id, "close", "SPY", Side.SELL, 10, "close"),
        _order(account_id, "open", "QQQ", Side.BUY, 5, "open"),
        _order(account_id, "add", "SPY", Side.BUY, 3, "resize"),
    ]
    send_orders(storage.events, broker, batch, stream="o", week_id=WEEK, run_id="r")
    assert len(broker.open_orders()) == 3
    _halt_for_losses(storage, config, account_id)
    canceled = cancel_opening_orders(
        storage.events, broker, broker.account({}).positions, "10 losses", week_id=WEEK, run_id="r"
    )
    assert [c.client_order_id for c in canceled] == ["t-open", "t-add"]
    assert [o.client_order_id for o in broker.open_orders()] == ["t-close"]
    recorded = storage.events.read(type="QueuedOrderCanceled")
    assert [e.payload["client_order_id"] for e in recorded] == ["t-open", "t-add"]
    # Each on its order's own write-once stream: one record of its end, whoever records it (review E, D5).
    assert [e.stream for e in recorded] == [f"fill:{account_id}:t-open", f"fill:{account_id}:t-add"]
    clock.instant = datetime(2026, 1, 8, 15, 0, tzinfo=UTC)  # after the next open
    assert broker.account({}).positions == {}  # only the close filled: nothing left open on a halted account


def test_a_halt_by_a_fill_cancels_the_queued_opens_through_the_revaluation(storage: Storage, config: Config) -> None:
    # The halting trade fills while an opening order from an earlier batch waits for a later fill time.
    clock = Clock(EVENING)
    opens = Opens()
    broker = _broker(storage, config, clock, opens, slippage_bps=5)  # every round trip loses its slippage
    account_id = broker.account_id
    desk = Desk(config.accounts.accounts[0], broker)
    queued = _order(account_id, "queued", "QQQ", Side.BUY, 5, "open")
    send_orders(storage.events, broker, [queued], stream="o", week_id=WEEK, run_id="r")  # waits for Thursday's open
    clock.instant = OPEN
    after = revaluer(storage.events, desk, config, {}, week_id=WEEK, run_id="r")
    trips = []
    for k in range(10):
        trips += [
            _order(account_id, f"b{k}", "SPY", Side.BUY, 1, "open"),
            _order(account_id, f"s{k}", "SPY", Side.SELL, 1, "close"),
        ]
    send_orders(storage.events, broker, trips, stream="o", week_id=WEEK, run_id="r", after_fill=after)
    assert halted(storage.events, account_id)[0]
    assert [e.payload["client_order_id"] for e in storage.events.read(type="QueuedOrderCanceled")] == ["t-queued"]
    assert broker.open_orders() == []


def test_ten_one_share_resizes_do_not_halt_anything(storage: Storage, config: Config) -> None:
    broker = _broker(storage, config, Clock(OPEN), Opens(), slippage_bps=5)  # every resize sells below cost
    account_id = broker.account_id
    desk = Desk(config.accounts.accounts[0], broker)
    after = revaluer(storage.events, desk, config, {"SPY": 100.0}, week_id=WEEK, run_id="r")
    orders = [_order(account_id, "open", "SPY", Side.BUY, 100, "open")]
    orders += [_order(account_id, f"trim{k}", "SPY", Side.SELL, 1, "resize") for k in range(12)]
    send_orders(storage.events, broker, orders, stream="o", week_id=WEEK, run_id="r", after_fill=after)
    assert broker.account({}).positions["SPY"].qty == 88
    assert halted(storage.events, account_id) == (False, "")
    state, trades = breaker_state(storage.events, account_id, 100_000)
    assert trades == 0 and state.consecutive_losses == 0


def _week_verdict(config: Config, price: float) -> RiskVerdict:
    intent = TradeIntent(account_id="acct_1", instrument="SPY", direction="LONG", conviction=2, source="pitch:x")
    flat = AccountSnapshot(account_id="acct_1", cash=100_000, equity=100_000, buying_power=100_000, positions={})
    return gate.check(
        intent, flat, price, assets=config.assets, risk=config.risk, prices={"SPY": price}, halted=True, halt_reason="x"
    )


def _shadow_week(storage: Storage, config: Config, n: int, price: float) -> None:
    verdict = _week_verdict(config, price)
    record_shadow(
        storage.events,
        verdict,
        starting_equity=100_000,
        config=config.risk.circuit_breaker,
        prices={"SPY": price},
        roll=True,
        source=f"week {n}",
        at=OPEN + timedelta(days=7 * n),
        slippage_bps=5,
        week_id=WEEK + timedelta(days=7 * n),
        run_id=f"w{n}",
    )


def test_a_ten_loss_halt_lifts_after_three_winning_shadow_trades(storage: Storage, config: Config) -> None:
    _halt_for_losses(storage, config, "acct_1")
    verdict = _week_verdict(config, 100.0)
    assert not verdict.approved and verdict.target_qty == 0 and verdict.shadow_qty == 200  # halted: not opened
    _shadow_week(storage, config, 1, 100.0)  # the shadow opens 200 SPY at 100
    _shadow_week(storage, config, 2, 104.0)  # closed at 104 (a win), reopened
    _shadow_week(storage, config, 2, 104.0)  # a rerun of the same week records nothing twice
    _shadow_week(storage, config, 3, 108.0)  # win 2
    assert halted(storage.events, "acct_1")[0]
    _shadow_week(storage, config, 4, 112.0)  # win 3
    stop, _ = halted(storage.events, "acct_1")
    assert not stop
    resumed = storage.events.read(type="AccountResumed", account_id="acct_1")
    assert [e.payload["reason"] for e in resumed] == ["3 consecutive winning shadow trades since the halt"]
    shadows = storage.events.read(type="ShadowTraded", account_id="acct_1")
    assert [e.payload["source"] for e in shadows] == [
        "week 1",
        "week 2",
        "week 2",
        "week 3",
        "week 3",
        "week 4",
        "week 4",
    ]
    assert storage.events.read(type="OrderSubmitted") == []  # nothing was sent
    _shadow_week(storage, config, 5, 90.0)  # running again: no shadow is kept
    assert len(storage.events.read(type="ShadowTraded")) == 7


def test_shadow_trades_pay_the_costs_and_a_shadow_loss_restarts_the_count(storage: Storage, config: Config) -> None:
    _halt_for_losses(storage, config, "acct_1")
    _shadow_week(storage, config, 1, 100.0)
    _shadow_week(storage, config, 2, 100.05)  # up 5 bp: less than the 10 bp of slippage, a loss
    _shadow_week(storage, config, 3, 104.0)
    _shadow_week(storage, config, 4, 108.0)
    state, _ = breaker_state(storage.events, "acct_1", 100_000)
    assert state.halted and state.consecutive_wins == 2
    _shadow_week(storage, config, 5, 112.0)
    assert not halted(storage.events, "acct_1")[0]


def test_a_drawdown_halt_keeps_no_shadow_book(storage: Storage, config: Config) -> None:
    evaluate_breaker(
        storage.events,
        "acct_1",
        starting_equity=100_000,
        equity=70_000,
        fills=[],
        config=config.risk.circuit_breaker,
        week_id=WEEK,
        run_id="r",
    )
    assert halted(storage.events, "acct_1")[0]
    for n, price in enumerate((100.0, 110.0, 120.0, 130.0, 140.0)):
        _shadow_week(storage, config, n, price)
    assert storage.events.read(type="ShadowTraded") == []
    assert halted(storage.events, "acct_1")[0]  # only the drawdown's recovery (or a hand) lifts it


def test_a_state_recorded_when_every_reducing_fill_was_a_trade_is_recounted_in_round_trips(
    storage: Storage, config: Config
) -> None:
    # Version 1 counted 30 "trades" (reducing fills); in round trips these fills are 2 trades. Trusting
    # the old count would ignore the next 28 trades; the evaluation takes the 2 as seen instead.
    old = {
        "state": {
            "account_id": "acct_1",
            "halted": False,
            "reason": "",
            "peak_equity": 100_000.0,
            "consecutive_losses": 9,
            "consecutive_wins": 0,
        },
        "trades_seen": 30,
    }
    storage.events.append(
        [NewEvent(type="BreakerUpdated", stream="breaker:acct_1", payload=old, account_id="acct_1", schema_version=1)]
    )
    assert breaker_state(storage.events, "acct_1", 100_000) == (BreakerState.model_validate(old["state"]), UNCOUNTED)
    fills = _losing_trips("acct_1", 2)

    def evaluate(fills: list[Fill]) -> BreakerState:
        return evaluate_breaker(
            storage.events,
            "acct_1",
            starting_equity=100_000,
            equity=100_000,
            fills=fills,
            config=config.risk.circuit_breaker,
            week_id=WEEK,
            run_id="r",
        )

    assert not evaluate(fills).halted  # the two old trades are not counted again
    assert breaker_state(storage.events, "acct_1", 100_000)[1] == 2
    assert evaluate(_losing_trips("acct_1", 3)).halted  # one new losing round trip: the tenth loss


def test_two_processes_recording_the_same_shadow_trade_at_once_record_it_once(
    storage: Storage, database_url: str, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A weekly run and its rerun both read the halted breaker before either writes.
    _halt_for_losses(storage, config, "acct_1")
    both_read = threading.Barrier(2, timeout=10)
    first_read: set[int] = set()
    real_read = controls.read_breaker

    def read_then_wait(*args: Any, **kwargs: Any) -> Any:
        found = real_read(*args, **kwargs)
        if threading.get_ident() not in first_read:
            first_read.add(threading.get_ident())
            both_read.wait()
        return found

    monkeypatch.setattr(controls, "read_breaker", read_then_wait)

    def record(_: int) -> None:
        with open_storage(Settings(DATABASE_URL=database_url), FixedClock(OPEN)) as mine:
            controls.record_shadow(
                mine.events,
                _week_verdict(config, 100.0),
                starting_equity=100_000,
                config=config.risk.circuit_breaker,
                prices={"SPY": 100.0},
                roll=True,
                source="week 1",
                at=OPEN,
                week_id=WEEK,
                run_id="r",
            )

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(record, range(2)))
    monkeypatch.undo()
    assert len(storage.events.read(type="ShadowTraded")) == 1
    versions = [e.version for e in storage.events.read(stream="breaker:acct_1")]
    assert versions == list(range(1, len(versions) + 1))
