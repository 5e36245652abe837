"""A month of one symbol's daily bars as CSV rows and as Bars, and the real MarketData to read them.

Shared by tests/test_market_validation.py and tests/test_market_sources.py. The bars are the
synthetic market's (seeded, so every test sees the same prices), relabelled as real data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path

from llmtrade.domain.market import Bar
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.series import untraded_before
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage

CLASSES = {"SPY": "equity", "TLT": "rates"}
START, END = date(2025, 12, 1), date(2026, 1, 9)
SESSIONS = TradingCalendar().sessions_between(START, END)  # 28 sessions; 2025-12-25 is a holiday
HEADER = "Date,Ticker,Open,High,Low,Close,Volume"


def good_bars(symbol: str = "SPY", source: str = "feed") -> list[Bar]:
    bars = SyntheticMarket(CLASSES).daily_bars([symbol], START, END)[symbol]
    return [b.model_copy(update={"synthetic": False, "source": source}) for b in bars]


def rows(symbol: str = "SPY") -> list[str]:
    """CSV rows (no header) of every session START..END."""
    return [f"{b.day},{symbol},{b.open},{b.high},{b.low},{b.close},{int(b.volume)}" for b in good_bars(symbol)]


def write(folder: Path, symbol: str, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{symbol}.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def market(
    storage: Storage, *providers: object, say: Callable[[str], None] | None = None, books: bool = False
) -> MarketData:
    """The real service over `providers`; `books`: reading what the books hold as the app's does (container.py)."""
    before = partial(untraded_before, storage.events) if books else None
    recording = Recording(storage.events, "r1", say=say, untraded_before=before)
    return MarketData(list(providers), BarCache(storage.conn), TradingCalendar(), recording)  # type: ignore[arg-type]


def rejections(storage: Storage) -> list[dict]:
    return [e.payload for e in storage.events.read(type="MarketDataRejected")]
