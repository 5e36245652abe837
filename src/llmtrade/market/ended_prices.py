"""The last bar of a held symbol whose daily prices ended (a CSV file no longer written, a ticker delisted or renamed).

The live leaderboard and report (app/ended_closes.py) and a backtest (app/marked_books.py) mark a position in such a
symbol at its last close and say so; `status`, the postmortem and the week start's valuation valued the same position
at its cost, booking a week P/L of 0 for it: two values of one position, by the command read. Each reads the last bar
here, judged as the weekly run judges a symbol that ended (market/snapshot.py `ended_before`): a feed behind as a whole
(the benchmark's prices stopping too) or a TemporaryError is no ended feed, and is waited for as before; a symbol the
feed has no bar of stays at cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from llmtrade.domain.market import Bar
from llmtrade.errors import LlmtradeError
from llmtrade.market.service import MarketData
from llmtrade.market.snapshot import ended_before

# How far back (calendar days) the last bar of a symbol whose prices ended is looked for: `ended_before` vouches for
# bars within a year (market/snapshot.py `_LOOK_BACK_DAYS`).
_LAST_BAR_DAYS = 366


def bars_to_end(market: MarketData, symbol: str, start: date, end: date) -> list[Bar]:
    """`symbol`'s bars in start..end, by day, at the first real provider that has one; none when none has."""
    for provider in market.providers:
        if provider.synthetic:
            continue
        try:
            bars = provider.daily_bars([symbol], start, end)
        except LlmtradeError:
            continue  # a file with no row in the range says so by raising: the next provider may have it
        inside = sorted((bar for bar in bars.get(symbol, ()) if start <= bar.day <= end), key=lambda bar: bar.day)
        if inside:
            return inside
    return []


def ended_last_bars(market: MarketData, symbols: Sequence[str], asof: datetime) -> dict[str, tuple[Bar, str]]:
    """Of `symbols` (held, without a price at `asof`), each whose prices ended before `asof` (`ended_before`), with its
    last bar before `asof` and why its prices ended: symbol -> (bar, why). A symbol whose price is merely late (the
    feed behind as a whole, a TemporaryError) or that has no bar at all is not in it. Reads the feed; raises nothing of
    its own (a provider's failure is a symbol without a last bar)."""
    found: dict[str, tuple[Bar, str]] = {}
    day = market.calendar.last_completed_session(asof)
    if day is None:
        return found
    for symbol in dict.fromkeys(symbols):
        why = ended_before(market, symbol, asof)
        if why is None:
            continue
        bars = bars_to_end(market, symbol, day - timedelta(days=_LAST_BAR_DAYS), day)
        if bars:
            found[symbol] = (bars[-1], why)
    return found


def last_close_note(symbol: str, bar: Bar, why: str) -> str:
    """How a position in `symbol` valued at its last close (`bar`) is said: the day, the close, why no later one."""
    return f"{symbol} valued at its last close ({bar.day}: {bar.close:g}), its prices ended: {why}"
