"""`indicators_of`: the same frozen bars are computed once; other bars, however alike, are computed afresh."""

from __future__ import annotations

from datetime import date, timedelta

from llmtrade.domain.market import Bar
from llmtrade.market.indicators import compute_indicators, indicators_of


def _bars(symbol: str, n: int, *, drift: float = 0.5) -> list[Bar]:
    first = date(2025, 1, 1)
    out = []
    for i in range(n):
        close = 100 + drift * i + (i % 7) * 0.3
        out.append(
            Bar(
                symbol=symbol,
                day=first + timedelta(days=i),
                open=close - 0.2,
                high=close + 1,
                low=close - 1,
                close=close,
                volume=1000,
                source="t",
            )
        )
    return out


def test_the_same_bar_objects_give_the_kept_answer_and_other_bars_are_computed_again() -> None:
    bars, spy = _bars("TLT", 260), _bars("SPY", 260, drift=0.3)
    first = indicators_of(bars, spy)
    assert first == compute_indicators(bars, spy)
    assert indicators_of(bars[:], spy[:]) is first  # a slice of the same objects: kept
    shorter = indicators_of(bars[:-1], spy[:-1])  # another last bar: another answer
    assert shorter == compute_indicators(bars[:-1], spy[:-1]) and shorter.asof_day < first.asof_day
    alike = _bars("TLT", 260)  # equal values, other objects: computed, not looked up
    again = indicators_of(alike, spy)
    assert again == first and again is not first
    assert indicators_of(bars, None) == compute_indicators(bars, None)  # without SPY: its own entry
    assert indicators_of(bars, None).corr_spy_60 is None
