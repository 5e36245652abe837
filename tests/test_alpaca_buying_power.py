"""Alpaca's buying power check, as it makes it (the fake's `reserve_buying_power`; tests/fakes/alpaca_buying_power.py),
through the real alpaca-py client: an order that opens or adds is valued at up to 104% of its value (a market order's
price collar) against buying power less what the account's open opening orders hold, and a queued sale frees none until
it fills (docs.alpaca.markets "Placing Orders", Buying Power). The weekly run queues its week before the open (08:00
New York), so a rotation's buy meets its own plan's queued sale and is refused.

Before, the refusal said "insufficient buying power (HTTP 403); the account's buying power is 6,000.00" of a buy of
5,900.00: true and unreadable, naming neither what Alpaca valued the order at nor the queued sale that had not freed
its money yet, nor that the order would go once it had."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date

import pytest
from alpaca.trading.client import TradingClient

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.order_plan import plan_orders
from llmtrade.config.loader import load_config
from llmtrade.domain.events import NewEvent
from llmtrade.domain.reconciliation import PositionAdopted
from llmtrade.domain.streams import managed_stream
from llmtrade.domain.trading import Order, OrderRejected, OrdersPlanned, OrderSubmitted, Position, Side
from llmtrade.errors import BrokerRejected
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import execute_plans
from llmtrade.workflows.legs import resume_unfinished
from tests.fakes.alpaca_server import FakeAlpacaServer

KEY_ID, SECRET = "bp-key", "bp-secret"
WEEK = date(2026, 1, 7)
CONFIG = load_config(None).config
ACCOUNT = CONFIG.accounts.accounts[0]
STREAM = "week:2026-01-07:orders"
PRICES = {"SPY": 600.0, "QQQ": 590.0, "IWM": 200.0}


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        fake.reserve_buying_power = True
        for symbol, price in PRICES.items():
            fake.set_price(symbol, price)
        fake.set_position("SPY", 10, 600.0)  # 6,000.00 of SPY, no cash: buying power 6,000.00 on margin
        fake.set_account(cash=0.0, buying_power=6_000.0)
        yield fake


def broker_for(server: FakeAlpacaServer) -> AlpacaBroker:
    return AlpacaBroker(ACCOUNT.id, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2.0)


def _order(symbol: str, side: Side, qty: int, intent: str) -> Order:
    return Order(
        account_id=ACCOUNT.id,
        week_id=WEEK,
        symbol=symbol,
        side=side,
        qty=qty,
        client_order_id=f"lt-20260107-{ACCOUNT.id}-{symbol}-{intent}",
        intent=intent,
    )


def test_a_buy_refused_behind_a_queued_sale_says_what_alpaca_valued_it_at_and_what_frees_it(
    server: FakeAlpacaServer,
) -> None:
    broker = broker_for(server)
    close = _order("SPY", Side.SELL, 10, "close")
    broker.submit(close)  # queued for the open: frees no buying power until it fills
    with pytest.raises(BrokerRejected) as refused:
        broker.submit(_order("QQQ", Side.BUY, 10, "open"))  # 5,900.00, valued at 6,077.00

    said = str(refused.value)
    assert "insufficient buying power (HTTP 403)" in said  # Alpaca's words, kept
    assert "Alpaca valued this order at 6,077.00 against buying power of 6,000.00" in said
    assert "up to 104% of its value" in said
    assert f"sell 10 SPY ({close.client_order_id}) frees none until it fills" in said
    assert "a rerun or the next checkpoint sends this one" in said
    assert not refused.value.lasting  # it may pass once the sale fills


def test_a_second_buy_is_refused_for_what_the_first_holds_and_says_so(server: FakeAlpacaServer) -> None:
    broker = broker_for(server)
    first = _order("IWM", Side.BUY, 20, "open")  # 4,000.00: holds 4,120.00 of the 6,000.00 while it is queued
    broker.submit(first)
    assert broker.account({}).buying_power == pytest.approx(1_880.0)  # as Alpaca's account object says it
    with pytest.raises(BrokerRejected) as refused:
        broker.submit(_order("QQQ", Side.BUY, 4, "open"))  # 2,360.00, valued at 2,430.80

    said = str(refused.value)
    assert "Alpaca valued this order at 2,430.80 against buying power of 1,880.00" in said
    assert f"buy 20 IWM ({first.client_order_id}) holds part of it until it fills or ends" in said


def test_a_short_sell_is_checked_against_buying_power_too(server: FakeAlpacaServer) -> None:
    """Alpaca checks a short sell as it checks a buy; the fake checked buys alone."""
    server.add_asset("IWM", shortable=True)
    server.set_account(cash=0.0, buying_power=1_000.0)
    with pytest.raises(BrokerRejected) as refused:
        broker_for(server).submit(_order("IWM", Side.SELL, 5, "open"))  # 1,000.00 short, valued at 1,030.00
    assert "Alpaca valued this order at 1,030.00 against buying power of 1,000.00" in str(refused.value)


def test_the_weekly_rotation_refused_before_the_open_goes_once_after_the_sale_fills(
    storage: Storage, server: FakeAlpacaServer
) -> None:
    """The plan's sale of SPY and buy of QQQ, queued at 08:00: the buy is refused (recorded, said), the run is
    unfinished; once the sale has filled at the open, the next checkpoint's resume sends the buy, once."""
    adopted = PositionAdopted(account_id=ACCOUNT.id, symbol="SPY", qty=10, avg_price=600.0, price=600.0)
    storage.events.append([NewEvent.of(adopted, stream=managed_stream(ACCOUNT.id), account_id=ACCOUNT.id)])
    broker = broker_for(server)
    desk = Desk(ACCOUNT, broker)
    held = {"SPY": Position(symbol="SPY", qty=10, avg_price=600.0)}
    orders = plan_orders(WEEK, ACCOUNT.id, held, "QQQ", 10)
    close, opening = orders
    plan = OrdersPlanned(account_id=ACCOUNT.id, broker=broker.name, orders=orders, positions_before=held)

    first = asyncio.run(
        execute_plans(
            storage.events, {ACCOUNT.id: desk}, [plan], CONFIG, PRICES, stream=STREAM, week_id=WEEK, run_id="r"
        )
    )
    [refused] = [OrderRejected.from_event(e) for e in storage.events.read(type=OrderRejected.event_type())]
    assert refused.order.client_order_id == opening.client_order_id
    assert f"sell 10 SPY ({close.client_order_id}) frees none until it fills" in refused.reason
    assert [n for n in first.unfinished if "insufficient buying power" in n and "frees none" in n] != []
    assert list(server.orders) == [close.client_order_id]

    server.fill_open_orders()  # the open: the sale fills, its money frees the buying power
    asyncio.run(
        resume_unfinished(storage.events, {ACCOUNT.id: desk}, CONFIG, PRICES, stream=STREAM, week_id=WEEK, run_id="c")
    )
    sent = [OrderSubmitted.from_event(e).order for e in storage.events.read(type=OrderSubmitted.event_type())]
    assert [o.client_order_id for o in sent] == [close.client_order_id, opening.client_order_id]
    assert list(server.orders) == [close.client_order_id, opening.client_order_id]  # each sent once


def test_a_position_whose_close_is_queued_is_read_at_its_qty_not_its_qty_available(server: FakeAlpacaServer) -> None:
    """Alpaca's position shows qty_available less than qty while an order that closes it is open (the shares held for
    it): the fake showed them equal. The account holds its qty until the close fills; read at qty_available, a look at
    it found a position missing its queued shares."""
    broker = broker_for(server)
    broker.submit(_order("SPY", Side.SELL, 6, "resize"))  # queued for the open
    [raw] = TradingClient(KEY_ID, SECRET, paper=True, url_override=server.base_url).get_all_positions()
    assert (raw.qty, raw.qty_available) == ("10", "4")  # as Alpaca answers it
    assert broker.account({}).positions["SPY"].qty == 10
