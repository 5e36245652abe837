"""A backtest's delisting settlement values the account after its close's fill at the prices of that instant, every
held symbol's: it was handed the delisted symbol's close alone, so an account holding another symbol beside it was
valued (AccountValued "after fill") with that one at its cost, and its breaker saw that equity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from llmtrade.app.backtest_delisting import _close_all
from llmtrade.brokers.order_plan import client_order_id
from llmtrade.config.loader import load_config
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.market import Bar, Quote
from llmtrade.domain.streams import ORDERS, week_stream
from llmtrade.domain.trading import Order, Side
from llmtrade.market.calendar import TradingCalendar
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import revaluer, send_orders
from tests.test_breaker_protects import Clock, Opens, _broker

CONFIG = load_config(None).config
LAST = date(2026, 1, 8)  # GLD's last session, a Thursday
WEEK = date(2026, 1, 7)
LAST_SECOND = TradingCalendar().session_close(LAST) - timedelta(seconds=1)
STREAM = week_stream(WEEK, ORDERS)
GLD_CLOSE, QQQ_CLOSE = 120.0, 150.0  # both bought at 100


@dataclass
class _Series:
    bars: dict[str, list[Bar]]


class _Market:
    """The backtest's market as the settlement reads it: each symbol's bar of the session asked."""

    def __init__(self, closes: dict[str, float]) -> None:
        self.closes = closes
        self.asked: list[list[str]] = []

    def bars(self, symbols: list[str], start: date, end: date) -> _Series:
        self.asked.append(list(symbols))
        return _Series({s: [_bar(s, start, self.closes[s])] for s in symbols if s in self.closes})


def _bought(account_id: str, symbol: str) -> Order:
    return Order(
        client_order_id=client_order_id(WEEK, account_id, symbol, "open"),
        account_id=account_id,
        week_id=WEEK,
        symbol=symbol,
        side=Side.BUY,
        qty=100,
        intent="open",
    )


def _bar(symbol: str, day: date, close: float) -> Bar:
    return Bar(symbol=symbol, day=day, open=close, high=close, low=close, close=close, volume=1_000, source="csv")


@dataclass
class _App:
    """The backtest container's part the settlement uses: its accounts, and the config."""

    desk: Desk

    @property
    def loaded(self) -> Any:
        return type("Loaded", (), {"config": CONFIG})()

    def desks(self, storage: Storage, market: Any, *, quotes: Any) -> list[Desk]:
        return [self.desk]


@pytest.mark.parametrize("other_held", [True, False], ids=["another-symbol-held", "the-delisted-one-alone"])
def test_the_valuation_after_a_delistings_close_values_every_held_symbol_at_that_instants_price(
    storage: Storage, other_held: bool
) -> None:
    clock = Clock(datetime(2026, 1, 7, 17, 0, tzinfo=UTC))  # Wednesday, in session: bought at the open, 100
    broker = _broker(storage, CONFIG, clock, Opens(), slippage_bps=0)
    account = CONFIG.accounts.accounts[0]
    desk = Desk(account, broker)
    bought = [_bought(account.id, s) for s in (["GLD", "QQQ"] if other_held else ["GLD"])]
    # llmtrade's own orders (recorded, its client_order_ids): a position bought by hand is not its to value.
    bought_fill = revaluer(storage.events, desk, CONFIG, {"GLD": 100.0, "QQQ": 100.0}, week_id=WEEK, run_id="r0")
    send_orders(storage.events, broker, bought, stream=STREAM, week_id=WEEK, run_id="r0", after_fill=bought_fill)
    clock.instant = LAST_SECOND
    market = _Market({"GLD": GLD_CLOSE, "QQQ": QQQ_CLOSE})
    quote = Quote(symbol="GLD", price=GLD_CLOSE, as_of=LAST_SECOND, provider="csv", kind="close")

    closed = _close_all(_App(desk), storage, market, quote, LAST, WEEK, "settle")  # type: ignore[arg-type]

    assert closed == {account.id: 100}
    [after] = [
        AccountValued.from_event(e)
        for e in storage.events.read(type=AccountValued.event_type())
        if e.payload["occasion"] == "after fill" and e.run_id == "settle"
    ]
    cash = broker.account({}).cash
    expected = cash + (100 * QQQ_CLOSE if other_held else 0.0)
    assert after.equity == pytest.approx(expected)  # QQQ at its close of that session, not its cost (100)
    assert after.at_cost == []
    assert market.asked == ([["QQQ"]] if other_held else [])  # nothing read when nothing else is held
