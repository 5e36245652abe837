"""How many statements a live read of a cached range sends to PostgreSQL: a cron job's run reads the same ranges
many times over (the snapshot, each checkpoint's prices, the postmortem), so each statement more is paid again and
again. On a real PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from llmtrade.domain.market import Bar
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.service import MarketData, Recording
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from tests.market_series import END, START, good_bars


class _Counted:
    """A connection whose statements (`execute`, and those sent through its cursors) are counted."""

    def __init__(self, conn: Any) -> None:
        self._conn, self.sent = conn, 0

    def execute(self, *args: Any, **kw: Any) -> Any:
        self.sent += 1
        return self._conn.execute(*args, **kw)

    def cursor(self, *args: Any, **kw: Any) -> Any:
        return _CountedCursor(self, self._conn.cursor(*args, **kw))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _CountedCursor:
    def __init__(self, counted: _Counted, cur: Any) -> None:
        self._counted, self._cur = counted, cur

    def __enter__(self) -> _CountedCursor:
        self._cur.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._cur.__exit__(*exc)

    def execute(self, *args: Any, **kw: Any) -> Any:
        self._counted.sent += 1
        return self._cur.execute(*args, **kw)

    def executemany(self, *args: Any, **kw: Any) -> Any:
        self._counted.sent += 1
        return self._cur.executemany(*args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


class _Feed:
    """A live feed (no file behind it) answering the month of tests/market_series.py."""

    name, synthetic = "feed", False

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        return {s: [b for b in good_bars(s) if start <= b.day <= end] for s in symbols}

    def origin(self, symbol: str) -> None:
        return None

    def incomplete(self, close: datetime) -> None:
        return None


def test_a_live_read_of_a_vouched_range_sends_three_statements_not_four(storage: Storage) -> None:
    """Covered, vouched, its bars, and whether its last session's bars were stored before they settled: the range's
    being covered is implied by its being vouched (a vouch is only ever made of a covered range, and every write
    that drops a fetch record drops the vouches over it), and the two are asked in one statement."""
    counted = _Counted(storage.conn)
    market = MarketData([_Feed()], BarCache(counted), TradingCalendar(), Recording(storage.events, "r1"))  # type: ignore[arg-type]
    fetched = market.bars(["SPY", "TLT"], START, END)
    before = counted.sent
    again = market.bars(["SPY", "TLT"], START, END)
    assert again.from_cache and again.bars == fetched.bars
    assert counted.sent - before == 3
