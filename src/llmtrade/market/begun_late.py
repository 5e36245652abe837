"""An answer that begins later than the range asked, for a symbol that traded before its first bar: the provider left
out the range's first sessions, not a symbol listed late.

History may begin later than asked (market/validation.py): a symbol listed within the range, or a file that starts
later. But a provider also answers a shortened history at times (Yahoo: ranaroussi/yfinance#737, #849; a thinly traded
symbol without a trade on IEX in the range's first sessions), and read as a late listing such an answer was validated,
cached as covering the whole range and read so for good: indicators short of their window, a backtest's discovery and
the leaderboard taking the symbol as listed days ago. What is known decides: the bar cache holding a bar of the symbol
from before that first bar, no earlier than a little before the range (`TRADED_WITHIN`: a ticker a new company took
years after the old one's last bar begins anew), says it traded then, so the sessions from there are missing: sessions
without a bar at that provider (market/untraded.py), the symbol asked of the next provider, read without them when
none has them, said, never cached. A symbol the cache has no such bar of is a late listing, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from llmtrade.domain.market import Bar
from llmtrade.market.untraded import UntradedSessions
from llmtrade.storage.bar_cache import BarCache

# How long before a range's first day a cached bar still says the symbol traded at its start: two weeks of sessions.
TRADED_WITHIN = timedelta(days=14)


def begun_late(
    cache: BarCache, provider: str, bars: Mapping[str, list[Bar]], sessions: Sequence[date], *, synthetic: bool
) -> UntradedSessions | None:
    """The symbols of `bars` (one provider's valid answer, each symbol's bars ascending in the range of `sessions`)
    whose first bar is after the range's first session while the cache holds a bar of them from before it (no earlier
    than TRADED_WITHIN before the range), with the sessions left out between, as sessions without a bar there
    (market/untraded.py): asked of the next provider, read without them when none has them, never cached. None when
    no symbol began so. One look at the cache, and only when some symbol begins late."""
    if not sessions:
        return None
    late = {symbol: series[0].day for symbol, series in bars.items() if series and series[0].day > sessions[0]}
    if not late:
        return None
    traded = cache.first_since(list(late), sessions[0] - TRADED_WITHIN, synthetic=synthetic)
    untraded: dict[str, tuple[list[Bar], list[date]]] = {}
    said = []
    for symbol, first in late.items():
        before = traded.get(symbol)
        days = [day for day in sessions if before is not None and before <= day < first]
        if before is None or not days:
            continue
        untraded[symbol] = (bars[symbol], days)
        said.append(f"{symbol}'s begin at {first}, though the bar cache holds its bar of {before}")
    if not untraded:
        return None
    why = (
        f"{provider}'s bars of the range {'; '.join(said)}: it traded before, so the range's first sessions are left "
        "out (a provider's shortened history, or no trade of it at the feed then), not a late listing"
    )
    return UntradedSessions(
        f"{why}; asked of the next provider",
        provider=provider,
        why=why,
        symbols=list(untraded),
        answered={},
        untraded=untraded,
    )
