"""Prices at the time of the order, offline on the synthetic market: the four checkpoints of a day see
four prices, and a paper order taken at 12:00 fills at the 12:00 quote (plus slippage), not at the open."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.brokers.paper import PaperBroker
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.checkpoints import CheckpointTaken
from llmtrade.domain.market import QuoteFetched
from llmtrade.domain.trading import Order, OrderFilled, OrderStatus, PaperOrderAccepted, Side
from llmtrade.errors import MarketDataUnavailable
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.quotes import QuoteService
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.market.synthetic_quotes import SyntheticQuotes
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.workflows.frozen_trade import current_prices
from tests.support import FIXED_NOW

runner = CliRunner()
CALENDAR = TradingCalendar()
DAY = date(2026, 1, 8)  # a Thursday, a full session
TIMES = ["09:00", "12:00", "14:00", "15:50"]


def at(day: date, hhmm: str) -> datetime:
    hh, mm = (int(x) for x in hhmm.split(":"))
    return datetime.combine(day, time(hh, mm), tzinfo=NEW_YORK)


class Clock:
    real = False  # an instant the test sets (Clock.real)

    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


def synthetic(storage: Storage, clock: Clock) -> tuple[MarketData, QuoteService]:
    market_source = SyntheticMarket({"SPY": "equity"})
    market = MarketData([market_source], BarCache(storage.conn), CALENDAR, Recording(storage.events, "r1"))
    quotes = QuoteService(
        [SyntheticQuotes(market_source, CALENDAR)],
        market,
        clock,
        staleness=timedelta(minutes=15),  # type: ignore[arg-type]
    )
    return market, quotes


def test_the_four_checkpoint_times_of_a_day_see_four_prices(storage: Storage) -> None:
    clock = Clock(at(DAY, "09:00"))
    market, quotes = synthetic(storage, clock)
    seen = [current_prices(market, ["SPY"], at(DAY, t), quotes)["SPY"] for t in TIMES]
    assert len(set(seen)) == 4, seen
    # 09:00 is before the open: the price is the last close; during the session it moves along the path.
    assert quotes.quote("SPY", at(DAY, "09:00")).kind == "close"
    assert seen[0] != market.opening_price("SPY", DAY)


def paper(storage: Storage, clock: Clock, quotes: Any, market: MarketData) -> PaperBroker:
    return PaperBroker(
        "acct_1",
        starting_cash=100_000.0,
        events=storage.events,
        clock=clock,  # type: ignore[arg-type]
        calendar=CALENDAR,
        prices=market,
        slippage_bps=5.0,
        quotes=quotes,
    )


def order(cid: str = "lt-20260107-acct_1-SPY-open") -> Order:
    return Order(
        client_order_id=cid,
        account_id="acct_1",
        week_id=date(2026, 1, 7),
        symbol="SPY",
        side=Side.BUY,
        qty=3,
        intent="open",
    )


def test_a_noon_order_fills_at_the_noon_quote_not_the_open(storage: Storage) -> None:
    clock = Clock(at(DAY, "12:00"))
    market, quotes = synthetic(storage, clock)
    noon = quotes.quote("SPY", clock.now())
    broker = paper(storage, clock, quotes, market)

    result = broker.submit(order())

    assert result.status is OrderStatus.FILLED
    assert result.fill_price == pytest.approx(round(noon.price * 1.0005, 4))
    assert result.fill_price != pytest.approx(round(market.opening_price("SPY", DAY) * 1.0005, 4))
    (fill,) = broker.fills()
    assert fill.filled_at == clock.now() and fill.price_source == noon.source
    assert noon.as_of <= fill.filled_at  # never priced after the order... nor before its session
    clock.at = at(DAY, "15:00")  # reads later in the day re-derive the same fill from the stored quote
    assert broker.find(order().client_order_id).fill_price == result.fill_price  # type: ignore[union-attr]


def test_an_order_while_closed_fills_at_the_next_open_labelled_so(storage: Storage) -> None:
    clock = Clock(at(DAY, "08:00"))
    market, quotes = synthetic(storage, clock)
    broker = paper(storage, clock, quotes, market)
    assert broker.submit(order()).status is OrderStatus.ACCEPTED
    clock.at = at(DAY, "10:00")
    (fill,) = broker.fills()
    assert fill.filled_at == CALENDAR.session_open(DAY)
    assert fill.price == pytest.approx(round(market.opening_price("SPY", DAY) * 1.0005, 4))  # type: ignore[operator]
    assert fill.price_source == "daily open"


class NoPrice:
    def quote(self, symbol: str, now: datetime | None = None) -> Any:
        raise MarketDataUnavailable(f"no quote provider has a current price for {symbol}")

    def quotes(self, symbols: Any, now: datetime | None = None) -> Any:
        raise MarketDataUnavailable(f"no quote provider has a current price for {', '.join(symbols)}")


def test_without_a_current_price_the_order_is_not_taken_and_never_filled_at_a_made_up_price(storage: Storage) -> None:
    clock = Clock(at(DAY, "12:00"))
    market, _ = synthetic(storage, clock)
    broker = paper(storage, clock, NoPrice(), market)
    with pytest.raises(MarketDataUnavailable):
        broker.submit(order())
    assert broker.find(order().client_order_id) is None and broker.fills() == []
    assert storage.events.read(type=PaperOrderAccepted.event_type()) == []


def test_offline_checkpoints_see_four_prices_and_a_noon_exit_fills_at_the_noon_price(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    for t in TIMES:
        monkeypatch.setenv("LLMTRADE_NOW", at(DAY, t).isoformat())
        done = runner.invoke(app, ["checkpoint", t, "--json"])
        assert done.exit_code == 0, done.output
    with open_storage(Settings(DATABASE_URL=cli_env["DATABASE_URL"]), FixedClock(FIXED_NOW)) as storage:
        taken = [
            CheckpointTaken.from_event(e).checkpoint for e in storage.events.read(type=CheckpointTaken.event_type())
        ]
        fetched = [QuoteFetched.from_event(e) for e in storage.events.read(type=QuoteFetched.event_type())]
        fills = [OrderFilled.from_event(e).fill for e in storage.events.read(type=OrderFilled.event_type())]
    instrument = taken[0].instrument
    # Every checkpoint asked the quote service at its own time, judged or not: four prices for one instrument.
    seen = {
        t: {q.price for f in fetched if f.now == at(DAY, t) for q in f.quotes if q.symbol == instrument} for t in TIMES
    }
    assert all(len(prices) == 1 for prices in seen.values()), seen
    assert len({p for prices in seen.values() for p in prices}) == 4, seen
    for checkpoint in taken:  # the snapshot's "close" is the dated price it carries, never after the checkpoint
        assert checkpoint.price is not None and checkpoint.price.as_of <= at(checkpoint.day, checkpoint.time)
        assert checkpoint.indicators_snapshot["close"] == checkpoint.price.price
    exits = [c for c in taken if c.time == "12:00" and c.action in ("EXIT", "FLIP", "REDUCE")]
    assert exits, "the offline rules trade at 12:00 in this week"
    slip = load_config(None).config.accounts.paper.slippage_bps / 10_000
    for checkpoint in exits:
        assert checkpoint.price is not None
        noon_fills = [f for f in fills if f.account_id == checkpoint.account_id and f.filled_at == at(DAY, "12:00")]
        assert noon_fills, checkpoint.account_id
        for fill in noon_fills:
            expected = checkpoint.price.price * (1 + slip if fill.side is Side.BUY else 1 - slip)
            assert fill.price == pytest.approx(round(expected, 4))
            assert fill.price_source == checkpoint.price.source
