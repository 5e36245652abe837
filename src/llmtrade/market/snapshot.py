"""The market snapshot: indicators for the whole universe as of one instant, point-in-time."""

from __future__ import annotations

from datetime import datetime

from llmtrade.config.models import BENCHMARK
from llmtrade.domain.research import MarketSnapshot
from llmtrade.errors import MarketDataError
from llmtrade.market.daily_bars import DailyBars
from llmtrade.market.indicators import indicators_of
from llmtrade.market.jumps import last_suspect
from llmtrade.market.validation import SeriesRejected, validate_bars

# Enough sessions for the 200-day average and the 52-week high.
HISTORY_SESSIONS = 300


def take_snapshot(market: DailyBars, symbols: list[str], asof: datetime) -> MarketSnapshot:
    wanted = list(dict.fromkeys([*symbols, BENCHMARK]))
    series = market.bars_asof(wanted, asof, sessions=HISTORY_SESSIONS)
    # No indicator is computed across a gap, and "last session" is a session every symbol has a bar
    # for: MarketData validated what it returns; a series it did not (a stand-in's) is validated here.
    if not series.validated:
        problems = validate_bars(series.bars, market.calendar.sessions_between(series.start, series.end))
        if problems:
            raise MarketDataError(f"market snapshot as of {asof.isoformat()} refused: {SeriesRejected(problems)}")
    session = market.calendar.last_completed_session(asof)
    spy = series.bars.get(BENCHMARK) or None
    # The same bars give the same indicators: a week's snapshots (discovery's memory, then the research) of
    # one held bar cache compute each symbol once.
    indicators = {symbol: indicators_of(series.bars[symbol], spy) for symbol in symbols}
    # A last close the next session has not confirmed (a bad print, a split the feed left unadjusted): the risk gate
    # sizes nothing new off it (risk/gate.py SUSPECT_PRICE). What the fetch said of it is on record (market/service.py).
    suspect = {s: jump.looks_like() for s in symbols if (jump := last_suspect(s, series.bars[s])) is not None}
    return MarketSnapshot(
        asof=asof,
        session=session or max(ind.asof_day for ind in indicators.values()),
        source=series.provider + (" (cache)" if series.from_cache else ""),
        synthetic=series.synthetic,
        indicators=indicators,
        suspect=suspect,
    )
