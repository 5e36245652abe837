"""Whether the files a provider reads hold other bars now than the bar cache kept of them (market/service.py).

The cache outlives the run that filled it, and a file is not a feed: a download script that wrote the session's bar
while Yahoo still changed it (the day's live bar, 16:00-16:20) writes the final one at its next run, and a vendor
corrects a row. Served from the cache, the first version stood for good for every read of that range: the weekly run
at 08:00 read Tuesday's partial close the postmortem had cached at 16:30, though the file held the final one. A range
of a file provider is read from its files again (parsed once per version of a file: cheap) before its cached bars are
served; when they differ it is asked afresh, which validates, caches and records the new answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from llmtrade.domain.market import Bar
from llmtrade.errors import LlmtradeError
from llmtrade.market.provider import BarProvider


def rewritten(
    provider: BarProvider, symbols: Sequence[str], start: date, end: date, cached: Mapping[str, Sequence[Bar]]
) -> bool:
    """Whether `provider` reads files (its `origin`) whose bars of `symbols` in start..end now differ from `cached`
    (a row's day or prices or volume), or cannot be read now (asked afresh, the failure is said there). False for a
    provider that reads no file (an API, the synthetic market): its answers are re-read as ranges move on."""
    if all(provider.origin(symbol) is None for symbol in symbols):
        return False
    try:
        now = provider.daily_bars(list(symbols), start, end)
    except LlmtradeError:
        return True
    return any(_values(now.get(s, ()), start, end) != _values(cached.get(s, ()), start, end) for s in symbols)


def _values(bars: Sequence[Bar], start: date, end: date) -> list[tuple[object, ...]]:
    return [(b.day, b.open, b.high, b.low, b.close, b.volume) for b in bars if start <= b.day <= end]
