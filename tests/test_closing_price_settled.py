"""A paper order filled at the close is priced by the session's daily bar (market/session_bars.py `closing_price`),
which read the cache first and any provider's bar next, final or not: a bar cached before the session had settled (by
older code: Yahoo's at 16:05 before it waited 20 minutes, Alpaca's iex bar at 16:00) priced the fill for good, and a
provider asked before its bar was final (Yahoo at 16:05, its bar still live) priced it at a close not the session's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from llmtrade.domain.market import Bar
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.service import MarketData, Recording
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_bar_settles import CLOSE, TODAY, _iex_provider
from tests.test_alpaca_bar_settles import server as server
from tests.test_alpaca_data import WINTER_DAYS, row

SETTLED_CLOSE = 600.0 + WINTER_DAYS.index(TODAY)
EARLY_CLOSE = SETTLED_CLOSE - 1.5  # what Alpaca's bar said at 16:00, before the late and closing prints


def _alpaca(server: FakeAlpacaServer) -> None:
    server.add_bars("SPY", [row(day, 600 + i) for i, day in enumerate(WINTER_DAYS) if day <= TODAY])
    early = {**row(TODAY, SETTLED_CLOSE), "c": EARLY_CLOSE}  # the same open: only the close moves with late prints
    server.revised[("SPY", TODAY)] = (early, (CLOSE + timedelta(minutes=10)).timestamp())


def test_a_bar_cached_before_its_session_settled_prices_no_fill_at_the_close(
    server: FakeAlpacaServer, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The day after, the cache holds the session's bar as older code stored it at 16:02: its close is not the
    session's, and the bar Alpaca has now prices the fill; the unsettled row is dropped, for the next read to fetch."""
    now = CLOSE + timedelta(days=1)
    server.wall = now.timestamp
    _alpaca(server)
    cache = BarCache(storage.conn)
    early = row(TODAY, EARLY_CLOSE)
    bar = Bar(
        symbol="SPY", day=TODAY, open=early["o"], high=early["h"], low=early["l"], close=EARLY_CLOSE, volume=1e6,
        source="alpaca",
    )  # fmt: skip
    cache.store({"SPY": [bar]}, TODAY, TODAY, provider="alpaca", synthetic=False)
    storage.conn.execute("UPDATE market_bars SET fetched_at = %s", (CLOSE + timedelta(minutes=2),))
    market = MarketData([_iex_provider(server, now, monkeypatch)], cache, TradingCalendar(), Recording(storage.events))
    assert market.closing_price("SPY", TODAY) == SETTLED_CLOSE
    assert cache.count(["SPY"], TODAY, TODAY, synthetic=False) == 0
    # A bar cached once the session had settled is the cache's to answer, as ever: no request.
    storage.conn.execute("UPDATE market_bars SET fetched_at = %s", (CLOSE + timedelta(minutes=20),))
    cache.store({"SPY": [bar]}, TODAY, TODAY, provider="alpaca", synthetic=False)
    storage.conn.execute("UPDATE market_bars SET fetched_at = %s", (CLOSE + timedelta(minutes=20),))
    asked = len(server.requests)
    assert market.closing_price("SPY", TODAY) == EARLY_CLOSE
    assert len(server.requests) == asked


def test_a_providers_bar_not_final_yet_prices_no_fill_at_the_close(
    server: FakeAlpacaServer, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 16:05 Alpaca's bar of the day is not final: no closing price yet (the order waits), nothing cached; at
    16:20 the settled close."""
    _alpaca(server)
    cache = BarCache(storage.conn)
    for minutes, close in ((5, None), (20, SETTLED_CLOSE)):
        now = CLOSE + timedelta(minutes=minutes)
        server.wall = now.timestamp
        provider = _iex_provider(server, now, monkeypatch)
        market = MarketData([provider], cache, TradingCalendar(), Recording(storage.events))
        assert market.closing_price("SPY", TODAY) == close
        assert market.opening_price("SPY", TODAY) == SETTLED_CLOSE - 1  # the open is final from the open
    assert cache.count(["SPY"], TODAY, TODAY, synthetic=False) == 0


def test_a_range_whose_last_bar_was_cached_before_its_session_settled_is_asked_afresh(
    server: FakeAlpacaServer, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The postmortem of older code cached the range ending on the session at 16:02; the next morning's run read the
    same range from the cache, its last close the unsettled one, valuing the books by it. The range is asked afresh."""
    now = CLOSE + timedelta(days=1)
    server.wall = now.timestamp
    _alpaca(server)
    days = [day for day in WINTER_DAYS if day <= TODAY]
    cache = BarCache(storage.conn)
    stored = [
        Bar(symbol="SPY", day=day, open=599 + i, high=602 + i, low=598 + i, close=600 + i, volume=1e6, source="alpaca")
        for i, day in enumerate(days)
    ]
    stored[-1] = stored[-1].model_copy(update={"close": EARLY_CLOSE})
    cache.store({"SPY": stored}, days[0], TODAY, provider="alpaca", synthetic=False)
    storage.conn.execute("UPDATE market_bars SET fetched_at = %s WHERE day = %s", (CLOSE + timedelta(minutes=2), TODAY))
    market = MarketData([_iex_provider(server, now, monkeypatch)], cache, TradingCalendar(), Recording(storage.events))
    series = market.bars(["SPY"], days[0], TODAY)
    assert not series.from_cache and series.bars["SPY"][-1].close == SETTLED_CLOSE
    assert [b.close for b in cache.read(["SPY"], TODAY, TODAY, synthetic=False)["SPY"]] == [SETTLED_CLOSE]
    asked = len(server.requests)  # stored settled now: the next read is the cache's
    assert market.bars(["SPY"], days[0], TODAY).from_cache and len(server.requests) == asked
