"""An answer that begins later than the range asked, for a symbol the bar cache holds a bar of from before that: the
provider left out the range's first sessions (Yahoo answering a shortened history at times: ranaroussi/yfinance#737,
#849), not a symbol listed late. Read as a late listing, the shortened series was validated, cached as covering the
whole range and read so for good: indicators short of their window (a 200-day average n/a), the leaderboard and a
backtest's discovery taking the symbol as listed days ago. Now those sessions are sessions without a bar there
(market/untraded.py): the symbol asked of the next provider, read without them when none has them, said and recorded,
never cached; a symbol with no bar before its first is still a late listing."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pytest

from llmtrade.domain.market import Bar
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.market.yfinance_data import YFinanceProvider
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.yahoo_transport import YahooIntraday
from tests.market_series import market, rejections

CALENDAR = TradingCalendar()
SESSIONS = CALENDAR.sessions_between(date(2026, 1, 2), date(2026, 1, 16))
START, END = SESSIONS[0], SESSIONS[-1]
OPENS = [datetime.combine(day, time(9, 30), tzinfo=NEW_YORK) for day in SESSIONS]
BEFORE = CALENDAR.sessions_between(date(2025, 12, 22), date(2025, 12, 31))  # TLT's bars a run cached last year


@pytest.fixture(autouse=True)
def fresh_yfinance(tmp_path: Path) -> None:
    import yfinance

    yfinance.set_tz_cache_location(str(tmp_path / "yf-cache"))
    yfinance.data.YfData.cache_get.cache_clear()  # answers for past ranges are kept in memory, process-wide


def _yahoo(first: int) -> YFinanceProvider:
    """Yahoo with SPY's daily bars of START..END and TLT's from SESSIONS[first] on: the sessions before, left out."""
    fake = YahooIntraday(
        bars={
            "SPY": [(at, 600.0 + i) for i, at in enumerate(OPENS)],
            "TLT": [(at, 90.0 + i) for i, at in enumerate(OPENS) if i >= first],
        },
        session_open=OPENS[-1],
        session_close=OPENS[-1].replace(hour=16),
    )
    return YFinanceProvider(timeout_seconds=2, session=fake.session())


def _cache_tlt_before(storage: Storage) -> None:
    bars = [
        Bar(symbol="TLT", day=d, open=89, high=90, low=88, close=89.5, volume=1000, source="yfinance") for d in BEFORE
    ]
    BarCache(storage.conn).store({"TLT": bars}, BEFORE[0], BEFORE[-1], provider="yfinance", synthetic=False)


def test_an_answer_beginning_after_sessions_the_cache_says_the_symbol_traded_in_is_read_without_them_said_not_cached(
    storage: Storage,
) -> None:
    _cache_tlt_before(storage)
    said: list[str] = []
    series = market(storage, _yahoo(first=3), say=said.append).bars(["SPY", "TLT"], START, END)
    assert [b.day for b in series.bars["TLT"]] == SESSIONS[3:]  # nothing made up for the sessions left out
    [warning] = said
    assert f"TLT's begin at {SESSIONS[3]}, though the bar cache holds its bar of {BEFORE[0]}" in warning
    assert "not a late listing" in warning
    [event] = [e.payload for e in storage.events.read(type="SessionsUntraded")]
    assert (event["provider"], event["symbol"], event["days"]) == ("yfinance", "TLT", [str(d) for d in SESSIONS[:3]])
    cache = BarCache(storage.conn)
    assert (
        not cache.covers(["TLT"], START, END, synthetic=False)
        and cache.count(["TLT"], START, END, synthetic=False) == 0
    )
    assert cache.covers(["SPY"], START, END, synthetic=False)


def test_the_next_provider_supplies_a_symbol_whose_first_sessions_were_left_out_whole(
    storage: Storage, tmp_path: Path
) -> None:
    _cache_tlt_before(storage)
    folder = tmp_path / "csv"
    folder.mkdir()
    rows = [f"{d},{90 + i},{91 + i},{89 + i},{90.5 + i},1000" for i, d in enumerate(SESSIONS)]
    (folder / "TLT.csv").write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")
    series = market(storage, _yahoo(first=3), CsvFolderProvider(folder)).bars(["SPY", "TLT"], START, END)
    assert series.provider == "yfinance,csv" and [b.day for b in series.bars["TLT"]] == SESSIONS
    [failed] = [e.payload for e in storage.events.read(type="MarketProviderFailed")]
    assert failed["provider"] == "yfinance" and failed["symbols"] == ["TLT"] and "not a late listing" in failed["error"]
    assert not storage.events.read(type="SessionsUntraded")


def test_a_symbol_without_a_bar_before_its_first_is_still_a_late_listing(storage: Storage) -> None:
    series = market(storage, _yahoo(first=3)).bars(["SPY", "TLT"], START, END)
    assert [b.day for b in series.bars["TLT"]] == SESSIONS[3:]
    assert not rejections(storage)
    assert BarCache(storage.conn).covers(["SPY", "TLT"], START, END, synthetic=False)
