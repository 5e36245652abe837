"""A session Yahoo leaves out of its daily answer altogether, between rows it sends (ranaroussi/yfinance#2925, #2930,
#2964, #2622: 2026-07-24, 2026-08-28 missing for SPY, IWM, the indices, backfilled days later), is Yahoo's gap: a
wait while it may yet be filled, the data's error naming the symbol and the day once it is old, never cached."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from llmtrade.errors import MarketDataUnavailable
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.snapshot import week_snapshot
from llmtrade.market.yfinance_data import YFinanceProvider
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.fakes.yahoo_transport import YahooIntraday

CALENDAR = TradingCalendar()
SESSIONS = CALENDAR.sessions_between(datetime(2026, 1, 2).date(), datetime(2026, 1, 9).date())
START, END = SESSIONS[0], SESSIONS[-1]
OPENS = [datetime.combine(day, time(9, 30), tzinfo=NEW_YORK) for day in SESSIONS]
GAP = SESSIONS[2]


@pytest.fixture(autouse=True)
def fresh_yfinance(tmp_path: Path) -> None:
    import yfinance

    yfinance.set_tz_cache_location(str(tmp_path / "yf-cache"))
    yfinance.data.YfData.cache_get.cache_clear()  # answers for past ranges are kept in memory, process-wide


def _market(storage: Storage, now: datetime) -> MarketData:
    """Yahoo with SPY's daily bars of START..END and TLT's without GAP's row (not a NaN row: no row at all)."""
    fake = YahooIntraday(
        bars={
            "SPY": [(at, 600.0 + i) for i, at in enumerate(OPENS)],
            "TLT": [(at, 90.0 + i) for i, at in enumerate(OPENS) if at.date() != GAP],
        },
        session_open=OPENS[-1],
        session_close=OPENS[-1].replace(hour=16),
    )
    provider = YFinanceProvider(timeout_seconds=2, session=fake.session(), wall=lambda: now.timestamp())
    return MarketData([provider], BarCache(storage.conn), CALENDAR, Recording(storage.events, "r1"))


def _nothing_of_tlt_cached(storage: Storage) -> None:
    cache = BarCache(storage.conn)
    assert not cache.covers(["TLT"], START, END, synthetic=False)
    assert cache.count(["TLT"], START, END, synthetic=False) == 0


def test_a_recent_session_yahoo_left_out_between_its_rows_is_waited_for(storage: Storage) -> None:
    """Three days after it, Yahoo may yet send the session: exit 75 naming TLT and the day, SPY's bars kept. It was
    refused as a hole in the data (exit 1, "add the missing session(s) or re-export the data") at every wake-up."""
    after = datetime.combine(END, time(18, 0), tzinfo=NEW_YORK)
    with pytest.raises(MarketDataUnavailable) as caught:
        week_snapshot(_market(storage, after), ["SPY", "TLT"], after)  # not a symbol whose prices ended: a wait
    assert caught.value.exit_code == 75
    said = str(caught.value)
    assert f"yfinance has no row for TLT on {GAP}" in said
    assert "asked again at the next read" in said
    _nothing_of_tlt_cached(storage)
    assert BarCache(storage.conn).count(["SPY"], START, END, synthetic=False) == len(SESSIONS)


def test_an_old_session_yahoo_left_out_between_its_rows_is_read_without_it_said_and_not_cached(
    storage: Storage,
) -> None:
    """A month on, Yahoo will not send it: a halt all session (no trade anywhere, no row) or a day Yahoo lost. It was
    the data's error, exit 1, at every run for as long as the session was in the range read (a halted symbol stopped
    every weekly run for a year). Now it is a session without a trade (market/untraded.py): TLT read without it, never
    filled from the day before nor cached, said and recorded; SPY's bars cached."""
    said: list[str] = []
    market = _market(storage, datetime.combine(END, time(18, 0), tzinfo=NEW_YORK) + timedelta(days=30))
    market._recording = Recording(storage.events, "r1", say=said.append)
    series = market.bars(["SPY", "TLT"], START, END)
    assert [b.day for b in series.bars["TLT"]] == [day for day in SESSIONS if day != GAP]
    [warning] = said
    assert f"TLT has no bar of {GAP}" in warning and "has not sent one in 7 days" in warning and "halt" in warning
    [untraded] = [e.payload for e in storage.events.read(type="SessionsUntraded")]
    assert (untraded["provider"], untraded["symbol"], untraded["days"]) == ("yfinance", "TLT", [str(GAP)])
    assert not [e for e in storage.events.read(type="MarketDataRejected")]
    _nothing_of_tlt_cached(storage)
    assert BarCache(storage.conn).covers(["SPY"], START, END, synthetic=False)
