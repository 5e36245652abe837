"""The market snapshot: indicators for the whole universe as of one instant, point-in-time."""

from __future__ import annotations

from datetime import datetime

from llmtrade.domain.research import MarketSnapshot
from llmtrade.market.indicators import compute_indicators
from llmtrade.market.service import MarketData

# Enough sessions for the 200-day average and the 52-week high.
HISTORY_SESSIONS = 300


def take_snapshot(market: MarketData, symbols: list[str], asof: datetime) -> MarketSnapshot:
    wanted = list(dict.fromkeys([*symbols, "SPY"])) if "SPY" not in symbols else list(symbols)
    series = market.bars_asof(wanted, asof, sessions=HISTORY_SESSIONS)
    spy = series.bars.get("SPY") or None
    indicators = {symbol: compute_indicators(series.bars[symbol], spy) for symbol in symbols}
    return MarketSnapshot(
        asof=asof,
        session=max(ind.asof_day for ind in indicators.values()),
        source=series.provider + (" (cache)" if series.from_cache else ""),
        synthetic=series.synthetic,
        indicators=indicators,
    )
