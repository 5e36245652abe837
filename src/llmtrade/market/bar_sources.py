"""Which providers a series of cached bars came from, found once per series a backtest hands out again."""

from __future__ import annotations

import operator

from llmtrade.domain.market import Bar


def sources_of(bars: dict[str, list[Bar]], fallback: str) -> str:
    """The providers the cached bars came from (comma-joined, sorted), else `fallback`.

    Found once per run of the same bar objects: a backtest's bar cache hands every checkpoint a slice of the
    same frozen Bars (storage/held_bar_cache.py HeldBarCache), so a slice's first and last bar and its length name
    it (as `indicators.indicators_of` keys them); the bars are kept beside the answer, so no id is reused while
    its entry lives. Bars read afresh (other objects) are simply looked through again."""
    key = tuple((id(series[0]), id(series[-1]), len(series)) for series in bars.values() if series)
    kept = _SOURCES.get(key)
    if kept is not None:
        return kept[1] or fallback
    joined = ",".join(sorted(set().union(*(map(_SOURCE_OF, series) for series in bars.values()))))
    if len(_SOURCES) >= _SOURCES_KEPT:
        _SOURCES.clear()
    _SOURCES[key] = ([series for series in bars.values() if series], joined)
    return joined or fallback


_SOURCE_OF = operator.attrgetter("source")
_SOURCES: dict[tuple[tuple[int, int, int], ...], tuple[list[list[Bar]], str]] = {}
_SOURCES_KEPT = 256
