"""A provider that cannot run (no keys): it fails like an outage, so the fallback is recorded."""

from __future__ import annotations

from datetime import date, datetime

from llmtrade.domain.market import Bar
from llmtrade.errors import MarketProviderUnset


class UnavailableProvider:
    synthetic = False

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        raise MarketProviderUnset(f"{self.name} is not available: {self.reason}")

    def origin(self, symbol: str) -> None:
        return None

    def incomplete(self, close: datetime) -> None:
        return None  # asked, it says why it cannot be
