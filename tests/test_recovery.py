"""Defects an independent review of the renovated money paths confirmed, each pinned by a test.

A run killed between the broker taking an order and our recording it; paper fills that moved with
the data feed; Alpaca statuses that still work taken for dead; a partial fill recorded as final; a
fill filed under the week that noticed it; an offline rehearsal that locked the live week.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.fills import record_new_fills
from llmtrade.brokers.paper import PaperBroker
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.market import Bar
from llmtrade.domain.trading import Order, OrderFilled, OrderSubmitted, Side
from llmtrade.errors import MarketDataUnavailable
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.service import MarketData
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows import execution
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.support import going_live, stored_events
from tests.test_alpaca_broker import KEY_ID, SECRET, broker_for, order
from tests.test_checkpoint_stages import week  # noqa: F401 - `week` is a fixture

runner = CliRunner()
# Wednesday 2026-01-07 12:00 in New York: the session is open, so a paper order fills at once.
MIDDAY = datetime(2026, 1, 7, 17, 0, tzinfo=UTC)


def _die_after_the_broker_took_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies after the broker has the order but before OrderSubmitted is appended."""
    original = execution._send

    def send_then_die(broker: Any, order: Any) -> Any:
        original(broker, order)
        raise RuntimeError("killed between submit and record")

    monkeypatch.setattr(execution, "_send", send_then_die)


def test_a_checkpoint_killed_after_the_broker_took_an_order_resumes_and_sends_nothing_twice(
    week: Any,  # noqa: F811 - the fixture imported above
) -> None:
    _fake, url = week
    with pytest.MonkeyPatch.context() as patch:
        _die_after_the_broker_took_it(patch)
        crashed = runner.invoke(app, ["checkpoint", "12:00"])
    assert crashed.exit_code != 0
    accepted = [e.payload["order"]["client_order_id"] for e in stored_events(url, type="PaperOrderAccepted")]
    unrecorded = set(accepted) - {
        e.payload["order"]["client_order_id"] for e in stored_events(url, type="OrderSubmitted")
    }
    assert unrecorded  # the broker has (and, market open, has filled) an order we never recorded

    resumed = runner.invoke(app, ["checkpoint", "12:00"])

    assert resumed.exit_code == 0, resumed.output
    submitted = [e.payload["order"]["client_order_id"] for e in stored_events(url, type="OrderSubmitted")]
    assert unrecorded <= set(submitted)  # recorded now, from the broker's own answer
    accepted_after = [e.payload["order"]["client_order_id"] for e in stored_events(url, type="PaperOrderAccepted")]
    assert len(accepted_after) == len(set(accepted_after))  # no order reached the broker twice


def test_a_weekly_run_killed_after_the_broker_took_an_order_resumes_after_the_open(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    with pytest.MonkeyPatch.context() as patch:
        _die_after_the_broker_took_it(patch)
        assert runner.invoke(app, ["run-weekly"]).exit_code != 0
    # After 09:30 the queued order has filled: the positions differ from the plan's starting point.
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T10:00:00-05:00")

    rerun = runner.invoke(app, ["run-weekly"])

    assert rerun.exit_code == 0, rerun.output
    accepted = [
        e.payload["order"]["client_order_id"] for e in stored_events(cli_env["DATABASE_URL"], type="PaperOrderAccepted")
    ]
    assert accepted and len(accepted) == len(set(accepted))


class _Feed:
    """A bar provider that can fail its next requests, answering `open_` for every symbol and day."""

    synthetic = False

    def __init__(self, name: str, open_: float, failures: int = 0) -> None:
        self.name, self.open, self.failures = name, open_, failures

    def origin(self, symbol: str) -> None:
        return None

    def incomplete(self, close: datetime) -> None:
        return None

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        if self.failures:
            self.failures -= 1
            raise MarketDataUnavailable(f"{self.name} down")
        return {
            s: [
                Bar(
                    symbol=s,
                    day=start,
                    open=self.open,
                    high=self.open,
                    low=self.open,
                    close=self.open,
                    volume=1,
                    source=self.name,
                )
            ]
            for s in symbols
        }


def _paper(storage: Storage, *feeds: _Feed) -> PaperBroker:
    market = MarketData(list(feeds), BarCache(storage.conn), TradingCalendar())
    return PaperBroker(
        "acct_x",
        starting_cash=10_000,
        events=storage.events,
        clock=FixedClock(MIDDAY),
        calendar=TradingCalendar(),
        prices=market,
        slippage_bps=0,
    )


def _buy() -> Order:
    return Order(
        client_order_id="lt-x-open",
        account_id="acct_x",
        week_id=date(2026, 1, 7),
        symbol="SPY",
        side=Side.BUY,
        qty=10,
        intent="open",
    )


def test_a_paper_fill_keeps_the_price_submit_reported_whichever_feed_answers_later(storage: Storage) -> None:
    primary, fallback = _Feed("alpaca", 101.0, failures=1), _Feed("yfinance", 100.0)
    broker = _paper(storage, primary, fallback)

    result = broker.submit(_buy())  # the primary fails once: the fallback's open prices the fill

    assert result.fill_price == 100.0
    assert broker.account({}).positions["SPY"].avg_price == 100.0  # the primary answers now: 101
    recorded = [OrderFilled.from_event(e).fill.price for e in storage.events.read(type="OrderFilled")]
    assert recorded == [100.0]


def test_a_paper_fill_does_not_vanish_when_the_price_feed_goes_down(storage: Storage) -> None:
    feed = _Feed("alpaca", 101.0)
    broker = _paper(storage, feed)
    broker.submit(_buy())
    feed.failures = 10

    assert broker.account({}).positions["SPY"].qty == 10
    assert broker.open_orders() == []


def test_a_partial_fill_that_completes_between_two_reads_is_recorded_whole(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        server.set_price("SPY", 600)
        broker = broker_for(server)
        broker.submit(order())
        server.partially_fill(order().client_order_id, 4, 600)
        real_fills = AlpacaBroker.fills

        def fills_after_the_rest_filled(self: AlpacaBroker, since: datetime | None = None) -> Any:
            server.set_price("SPY", 610)
            server.fill_open_orders()  # the remaining 6 shares fill between the two requests
            return real_fills(self, since)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(AlpacaBroker, "fills", fills_after_the_rest_filled)
            first = record_new_fills(storage.events, broker, week_id=order().week_id, run_id="r1")
        second = record_new_fills(storage.events, broker, week_id=order().week_id, run_id="r2")

    assert first == []  # it was still working when we looked: nothing final to record yet
    assert [(f.qty, f.price) for f in second] == [(10, 606.0)]


@pytest.mark.parametrize("status", ["stopped", "suspended"])
def test_alpaca_orders_that_are_still_working_are_listed_as_open(storage: Storage, status: str) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        server.set_price("SPY", 600)
        broker = broker_for(server)
        broker.submit(order())
        server.partially_fill(order().client_order_id, 4, 600)
        with server._lock:
            server.orders[order().client_order_id]["status"] = status

        assert [o.client_order_id for o in broker.open_orders()] == [order().client_order_id]
        assert record_new_fills(storage.events, broker, week_id=order().week_id, run_id="r1") == []


def test_a_fill_is_filed_under_the_week_of_the_order_not_the_week_that_noticed_it(storage: Storage) -> None:
    from llmtrade.domain.events import NewEvent
    from llmtrade.domain.trading import OrderResult, OrderStatus

    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        server.set_price("SPY", 600)
        broker = broker_for(server)
        result = broker.submit(order())
        storage.events.append(
            [
                NewEvent.of(
                    OrderSubmitted(
                        order=order(),
                        broker="alpaca",
                        result=OrderResult(client_order_id=result.client_order_id, status=OrderStatus.ACCEPTED),
                    ),
                    stream="orders",
                    account_id=order().account_id,
                    week_id=order().week_id,
                )
            ]
        )
        server.fill_open_orders()
        record_new_fills(storage.events, broker, week_id=date(2026, 1, 14), run_id="next-week-run")

    (filled,) = storage.events.read(type="OrderFilled")
    assert filled.week_id == order().week_id


def test_an_offline_dry_run_leaves_the_week_open_to_the_live_run(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T07:30:00-05:00")
    assert runner.invoke(app, ["run-weekly", "--dry-run"]).exit_code == 0  # an offline rehearsal
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    with going_live(monkeypatch):
        live = runner.invoke(app, ["run-weekly"])

    assert live.exit_code == 0, live.output
    assert {e.payload["mode"] for e in stored_events(cli_env["DATABASE_URL"], type="RunStarted")} == {"live"}
