"""What discovery and a snapshot read of a market: MarketData's calendar and bars, as a protocol, so a backtest
can hand them the bars it holds for the whole run (app/backtest_discovery.py) instead of the service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.service import BarSeries


class DailyBars(Protocol):
    """market/service.py's MarketData answers it: validated bars of start..end, and about `sessions`
    sessions ending at the last session complete at `asof` (never a later bar)."""

    @property
    def calendar(self) -> TradingCalendar: ...

    def bars(self, symbols: Sequence[str], start: date, end: date) -> BarSeries: ...

    def bars_asof(self, symbols: Sequence[str], asof: datetime, *, sessions: int = 300) -> BarSeries: ...
