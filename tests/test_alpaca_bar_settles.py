"""Alpaca's daily bar of a session is not final at the close: its bars take in trades delivered late and are
recalculated (docs.alpaca.markets, real-time stock data, "updatedBars"; alpaca.markets/learn/stock-minute-bars: trades
reach it up to 10 s after execution, a bar is recalculated 30 s after its minute; Petersoj/alpaca-java#166), and the
closing prints come in after 16:00. The IEX feed's bar read at 16:00 was taken, and cached, as the session's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from llmtrade.config.loader import load_config
from llmtrade.errors import MarketDataUnavailable
from llmtrade.market.alpaca_data import AlpacaBarProvider
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.providers import build_providers
from llmtrade.market.service import MarketData, Recording
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import NEW_YORK, FakeAlpacaServer
from tests.test_alpaca_data import KEY_ID, SECRET, WINTER_DAYS, bar_requests, row

TODAY = date(2026, 1, 14)
CLOSE = datetime.combine(TODAY, datetime.strptime("16:00", "%H:%M").time(), tzinfo=NEW_YORK)


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        yield fake


def _iex_provider(server: FakeAlpacaServer, now: datetime, monkeypatch: pytest.MonkeyPatch) -> AlpacaBarProvider:
    """The alpaca provider as a command builds it on the default (iex) feed, its clock and the real one at `now`."""
    monkeypatch.setenv("ALPACA_DATA_KEY", KEY_ID)
    monkeypatch.setenv("ALPACA_DATA_SECRET", SECRET)
    settings = Settings(LLMTRADE_NOW=now.isoformat(), LLMTRADE_ALPACA_DATA_URL=server.base_url)
    [provider] = build_providers(load_config(None).config.assets, settings, ["alpaca"])
    assert isinstance(provider, AlpacaBarProvider) and provider.feed == "iex"
    return provider.waiting(replace(provider.waits, wall=server.wall))


@pytest.mark.parametrize(("minutes", "final"), [(0, False), (10, False), (19, False), (20, True)])
def test_an_iex_bar_is_taken_and_cached_only_once_it_settled_after_the_close(
    server: FakeAlpacaServer, storage: Storage, monkeypatch: pytest.MonkeyPatch, minutes: int, final: bool
) -> None:
    """Until 20 minutes after the close the session's bar is not taken (exit 75 with none left, nothing cached, not
    even asked of Alpaca); from then it is, with the close Alpaca settled on, not the one it sent at 16:00."""
    now = CLOSE + timedelta(minutes=minutes)
    server.wall = now.timestamp
    server.add_bars("SPY", [row(day, 600 + i) for i, day in enumerate(WINTER_DAYS) if day <= TODAY])
    settled = 600 + WINTER_DAYS.index(TODAY)
    server.revised[("SPY", TODAY)] = (row(TODAY, settled - 1.5), (CLOSE + timedelta(minutes=5)).timestamp())
    cache = BarCache(storage.conn)
    market = MarketData([_iex_provider(server, now, monkeypatch)], cache, TradingCalendar(), Recording(storage.events))
    if final:
        series = market.bars_asof(["SPY"], now, sessions=5)
        assert series.bars["SPY"][-1].day == TODAY and series.bars["SPY"][-1].close == settled
        assert [bar.close for bar in cache.read(["SPY"], TODAY, TODAY, synthetic=False)["SPY"]] == [settled]
        return
    with pytest.raises(MarketDataUnavailable) as caught:
        market.bars_asof(["SPY"], now, sessions=5)
    assert caught.value.exit_code == 75
    assert str(caught.value).startswith(
        "alpaca: alpaca has no complete bar of 2026-01-14 yet: Alpaca's daily bar takes in late and closing prints "
        "for a while after the close; taken from 2026-01-14 16:20 New York"
    )
    assert bar_requests(server) == [] and cache.count(["SPY"], TODAY, TODAY, synthetic=False) == 0
