"""The last bar of a held symbol whose daily prices ended (a CSV file no longer written, a ticker delisted or renamed).

The live leaderboard and report (app/ended_closes.py) and a backtest (app/marked_books.py) mark a position in such a
symbol at its last close and say so; `status`, the postmortem and the week start's valuation valued the same position
at its cost, booking a week P/L of 0 for it: two values of one position, by the command read. Each reads the last bar
here, judged as the weekly run judges a symbol that ended (market/snapshot.py `ended_before`, `ended_through`): a feed
behind as a whole (the benchmark's prices stopping too) or a TemporaryError is no ended feed, and is waited for as
before; a symbol the feed has no bar of stays at cost.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta

from llmtrade.domain.market import Bar
from llmtrade.errors import LlmtradeError
from llmtrade.market.service import MarketData
from llmtrade.market.snapshot import ended_through
from llmtrade.market.untraded import UntradedSessions

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
        except UntradedSessions as exc:  # sessions its feed saw no trade in: its bars are the symbol's all the same
            bars = {s: b for s, (b, _) in exc.untraded.items()}
        except LlmtradeError:
            continue  # a file with no row in the range says so by raising: the next provider may have it
        inside = sorted((bar for bar in bars.get(symbol, ()) if start <= bar.day <= end), key=lambda bar: bar.day)
        if inside:
            return inside
    return []


def bars_through(market: MarketData, symbol: str, start: date, last: date) -> list[Bar]:
    """`symbol`'s bars in start..`last`, `last` the day of its last bar (its prices having ended there): read as any
    range is (the bar cache first, validated, then kept there: a range that ends at its last bar has no stale tail to
    vouch for, and those bars no longer change), else as `bars_to_end` reads them when that read fails (a hole, a
    provider that has none, one not reached: then none)."""
    try:
        return list(market.bars([symbol], start, last).bars.get(symbol, ()))
    except LlmtradeError:
        return bars_to_end(market, symbol, start, last)


def ended_last_bars(market: MarketData, symbols: Sequence[str], asof: datetime) -> dict[str, tuple[Bar, str]]:
    """Of `symbols` (held, without a price at `asof`), each whose prices ended before `asof` (`ended_before`), with its
    last bar before `asof` and why its prices ended: symbol -> (bar, why). A symbol whose price is merely late (the
    feed behind as a whole, a TemporaryError) or that has no bar at all is not in it. Reads the feed: the judgement's
    reads (cached as any), then the provider's bars from the last day they held (`ended_through`) on, never cached;
    raises nothing of its own (a provider's failure is a symbol without a last bar)."""
    found: dict[str, tuple[Bar, str]] = {}
    day = market.calendar.last_completed_session(asof)
    if day is None:
        return found
    for symbol in dict.fromkeys(symbols):
        ended = ended_through(market, symbol, asof)
        if ended is None:
            continue
        why, through = ended
        # Its last bar is at or after the day the judgement's read vouched for: only those days are read (a week, not
        # the year a status or a checkpoint read from the provider at every call), the year only when they hold none.
        bars = bars_to_end(market, symbol, through, day) if through is not None else []
        bars = bars or bars_to_end(market, symbol, day - timedelta(days=_LAST_BAR_DAYS), day)
        if bars:
            found[symbol] = (bars[-1], why)
    return found


def held_ended(
    market: MarketData, unpriced: Iterable[str], held: Container[str], asof: datetime
) -> dict[str, tuple[Bar, str]]:
    """`ended_last_bars` of the symbols of `unpriced` (without a price at `asof`; the answer keeps their order) that
    are `held` (in play: held, or in an order): symbol -> (last bar, why). The one path from "held, without a price" to
    "its prices ended, valued at its last close" of status, the postmortem, the week start and a checkpoint. Reads the
    feed only when such a symbol is held; raises nothing of its own."""
    wanted = [s for s in unpriced if s in held]
    return ended_last_bars(market, wanted, asof) if wanted else {}


def last_bars(ended: Mapping[str, tuple[Bar, str]]) -> dict[str, Bar]:
    """The last bar of each symbol of `ended` (`held_ended`): where a valuation marks it (execution.py LAST_CLOSES)."""
    return {symbol: bar for symbol, (bar, _) in ended.items()}


def last_closes(ended: Mapping[str, tuple[Bar, str]]) -> dict[str, float]:
    """The last close of each symbol of `ended` (`held_ended`), as a price by symbol."""
    return {symbol: bar.close for symbol, (bar, _) in ended.items()}


def last_close_note(symbol: str, bar: Bar, why: str) -> str:
    """How a position in `symbol` valued at its last close (`bar`) is said: the day, the close, why no later one."""
    return f"{symbol} valued at its last close ({bar.day}: {bar.close:g}), its prices ended: {why}"
