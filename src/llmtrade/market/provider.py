"""What every market data provider offers: daily bars for symbols over an inclusive date range, and where it reads
them from."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from llmtrade.domain.market import Bar


class BarProvider(Protocol):
    name: str
    synthetic: bool

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        """Bars per symbol, ascending. Raises MarketDataUnavailable when this provider cannot
        answer now (another may), MarketDataError when the data itself is unusable."""
        ...

    def origin(self, symbol: str) -> str | None:
        """The file `symbol`'s bars are read from, so a message can point at it; None for a provider that reads
        no file (an API, the synthetic market)."""
        ...
