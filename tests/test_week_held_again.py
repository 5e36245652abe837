"""Holds of one account's week that change and change back: each change is recorded (AccountWeekHeld) and alerted,
the alert keyed by the hold. A broker not answering, then an order of llmtrade's open there, then the broker not
answering again: the third hold was keyed as the first ("unanswered"), so the user heard nothing the second time the
broker stopped answering. Through RiskStage, the real alpaca-py client against the loopback fake, beside a paper
account."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

from llmtrade.alerts.incidents import find_incidents
from llmtrade.domain.account_events import AccountWeekHeld
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_broker import KEY_ID, SECRET
from tests.test_reconciliation import CONFIG
from tests.test_weekly_shortable_unanswered import PRICES, _plan, short_and_paper

QUEUED = "lt-20260105-acct_1-SPY-queued"


def _queue(alpaca: FakeAlpacaServer) -> str:
    """An order of llmtrade's queued at Alpaca (last week's, say), open: the account waits for it."""
    person = TradingClient(KEY_ID, SECRET, paper=True, url_override=alpaca.base_url)
    order = MarketOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, client_order_id=QUEUED
    )
    return str(person.submit_order(order).id)


def _holds(storage: Storage) -> list[AccountWeekHeld]:
    return [AccountWeekHeld.from_event(e) for e in storage.events.read(type=AccountWeekHeld.event_type())]


def test_a_hold_back_to_an_unanswering_broker_after_an_orders_hold_is_alerted_again(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as alpaca:
        for symbol, price in PRICES.items():
            alpaca.set_price(symbol, price)
        alpaca.add_asset("SPY", shortable=True)
        desks = short_and_paper(storage, alpaca)

        alpaca.fail_route("GET", r"/v2/.*", 503, times=10_000)  # Alpaca down
        _plan(storage, desks, "run-1")
        alpaca.reset()
        placed = _queue(alpaca)  # Alpaca back, an order of llmtrade's open there
        _plan(storage, desks, "run-2")
        alpaca.end_order(QUEUED, "canceled")  # it ended; Alpaca down again
        alpaca.fail_route("GET", r"/v2/.*", 503, times=10_000)
        _plan(storage, desks, "run-3")

        assert placed
        holds = _holds(storage)
        assert [h.orders for h in holds] == [[], [QUEUED], []]  # the premise: three holds recorded, each a change
        now = max(e.occurred_at for e in storage.events.read(type=AccountWeekHeld.event_type())) + timedelta(hours=1)
        found = [i for i in find_incidents(storage.events, CONFIG, now, silence=False) if i.kind == "week-held"]

        assert len(found) == 3, [i.key for i in found]  # before: 2, the third keyed as the first
        assert len({i.key for i in found}) == 3
        first, orders, again = found
        assert first.key == "week-held:2026-01-05:acct_1:unanswered"  # as before: an alert sent already stays sent
        assert orders.key == f"week-held:2026-01-05:acct_1:{QUEUED}"
        assert "did not answer" in again.title and again.key.startswith("week-held:2026-01-05:acct_1:unanswered")


@pytest.mark.parametrize(
    "down",
    [
        r"/v2/assets/.*",  # asked whether it may short, before the look
        r"/v2/positions",  # a read of the look itself
    ],
)
def test_an_account_with_an_order_open_and_another_endpoint_down_is_held_for_its_order(
    storage: Storage, down: str
) -> None:
    """Whether it may short is asked before the look (nothing recorded of an account held for it); an account with an
    order of llmtrade's open at Alpaca whose asset endpoint was down too (or a read of its look) was held as "its
    broker did not answer", though Alpaca answered its orders: the user was told to wait for the broker, not for the
    order (nor of a cancel stuck for hours), and the alert said the broker did not answer."""
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as alpaca:
        for symbol, price in PRICES.items():
            alpaca.set_price(symbol, price)
        alpaca.add_asset("SPY", shortable=True)
        desks = short_and_paper(storage, alpaca)
        _queue(alpaca)
        alpaca.fail_route("GET", down, 503, times=10_000)  # that endpoint down; the rest answers

        plans, said = _plan(storage, desks, "run-1")

        [held] = _holds(storage)
        assert held.orders == [QUEUED], held  # before: [] and "its broker did not answer"
        assert "did not answer" not in held.reason and QUEUED in held.reason
        assert said == [held.reason]
        assert [p.account_id for p in plans] == ["acct_2"]
        assert alpaca.count("POST", "/v2/orders") == 1  # the queued one only
        valued = [e.payload["account_id"] for e in storage.events.read(type="AccountValued")]
        assert "acct_1" not in valued  # held before its valuation, as before
