"""The synthetic market prices discovery's candidates without moving the universe's bars."""

from __future__ import annotations

from datetime import date

import pytest

from llmtrade.errors import MarketDataError
from llmtrade.market.synthetic import SyntheticMarket, candidate_classes

UNIVERSE = {"SPY": "equity", "TLT": "rates", "GLD": "gold"}
START, END = date(2025, 6, 2), date(2025, 9, 30)


def test_extra_symbols_leave_the_universes_bars_unchanged() -> None:
    plain = SyntheticMarket(UNIVERSE).daily_bars(["SPY", "TLT"], START, END)
    extended = SyntheticMarket(UNIVERSE, extra=candidate_classes()).daily_bars(["SPY", "TLT"], START, END)
    assert extended == plain


def test_an_extra_symbols_bars_do_not_depend_on_the_other_extras_or_the_range_asked() -> None:
    alone = SyntheticMarket(UNIVERSE, extra={"AAPL": "equity"}).daily_bars(["AAPL"], START, END)["AAPL"]
    among = SyntheticMarket(UNIVERSE, extra=candidate_classes()).daily_bars(["AAPL", "XLE"], START, END)["AAPL"]
    later = SyntheticMarket(UNIVERSE, extra=candidate_classes()).daily_bars(["AAPL"], date(2025, 9, 1), END)["AAPL"]
    assert alone == among
    assert among[-len(later) :] == later
    assert all(b.synthetic and b.source == "synthetic" and b.low <= min(b.open, b.close) for b in among)


def test_an_unknown_symbol_or_class_is_still_refused() -> None:
    with pytest.raises(MarketDataError, match="does not know ZZZZ"):
        SyntheticMarket(UNIVERSE, extra=candidate_classes()).daily_bars(["ZZZZ"], START, END)
    with pytest.raises(MarketDataError, match="no factor"):
        SyntheticMarket(UNIVERSE, extra={"X": "crypto"})


def test_the_candidates_span_the_metric_pickers_liquidity_line() -> None:
    market = SyntheticMarket(UNIVERSE, extra=candidate_classes())
    symbols = sorted(candidate_classes())
    bars = market.daily_bars(symbols, START, END)
    volumes = [sum(b.volume for b in rows[-20:]) / 20 for rows in bars.values()]
    assert min(volumes) < 1_000_000 < max(volumes)  # the filter has something to reject and to keep
