"""What every market data provider offers: daily bars for symbols over an inclusive date range, where it reads them
from, and whether its bar of a session is complete yet."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol

from llmtrade.clock import Clock
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

    def incomplete(self, close: datetime) -> str | None:
        """Why this provider's bar of the session closing at `close` is not complete yet (made of its trades before
        the close, or still live), which the market service neither returns nor caches (market/service.py); None when
        it is, and always for a provider whose bars are what they are (a file's, the synthetic market's)."""
        ...


def live_now(clock: Clock) -> datetime:
    """Where a live provider's data stands now: the earlier of the command's now (`clock`, LLMTRADE_NOW's instant when
    set: nothing after it is taken) and the real one (an LLMTRADE_NOW ahead of it is not what the provider has)."""
    return min(clock.now(), datetime.now(UTC))
