"""What every market data provider offers: daily bars for symbols over an inclusive date range, where it reads them
from, and whether its bar of a session is complete yet."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from llmtrade.clock import Clock
from llmtrade.domain.market import Bar

# How long after a session's close a live feed's daily bar of it is taken as final, and cached. Yahoo's daily bar is
# live while the session trades and goes on changing after the close as the closing prints come in
# (dpguthrie/yahooquery#36, ranaroussi/yfinance#826); Alpaca's bars take in trades delivered late and are recalculated
# after the fact (its "updatedBars"; alpaca.markets/learn/stock-minute-bars), the closing auction's prints after 16:00.
# 20 minutes covers the closing auctions' prints, and the default postmortem (16:30) still finds the bar.
SETTLED = timedelta(minutes=20)
# The sources (Bar.source) of bars that go on changing for SETTLED after the close: a cached bar of theirs stored
# before then is not the session's final one (market/session_bars.py). A file's row and the synthetic market's are
# what they are.
SETTLING = frozenset({"alpaca", "yfinance"})


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


def real_now(wall: Callable[[], float]) -> datetime:
    """The real world's now, on `wall` (epoch seconds: time.time but for tests, which step a fake's)."""
    return datetime.fromtimestamp(wall(), UTC)


def data_cut(clock: Clock, wall: Callable[[], float], delay: timedelta) -> datetime:
    """Up to when a live provider's data is taken: never after the command's now (`clock`, LLMTRADE_NOW's instant when
    set: nothing after it is taken), nor within `delay` of the real now (`wall`: what the provider does not have final
    yet, or withholds, however far ahead LLMTRADE_NOW is). A session whose close is past the cut has a complete bar
    there: its bar is the real world's, so an LLMTRADE_NOW on a past session just after its close (16:05) is complete
    when the real world is `delay` past that close. Judged against the command's clock alone, as it was, it never
    was: every run exited 75, the bar long final at the provider."""
    return min(clock.now(), real_now(wall) - delay)
