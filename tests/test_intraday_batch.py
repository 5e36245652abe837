"""A quote of many symbols makes their days' draws together (market/intraday_path.py `bridge_prices`): each price
must be the very double the day priced alone gives, whatever the days priced beside it."""

from __future__ import annotations

import pytest

from llmtrade.market import intraday_path
from llmtrade.market.intraday_path import bridge_path, bridge_price, bridge_prices
from tests.test_backtest_speedups import _bars, _reference_walks


@pytest.mark.parametrize("minutes", [1, 2, 3, 210, 389, 390])
def test_days_priced_together_are_each_days_path_to_the_bit(minutes: int) -> None:
    bars = _bars()  # flat days among them
    intraday_path._PLANS.clear()
    alone = []
    for bar in bars:
        intraday_path._PLANS.clear()  # nothing kept: this day's draws made alone
        alone.append(bridge_path(bar, minutes, "csv"))
    for index in sorted({0, 1, minutes // 2, minutes}):
        intraday_path._PLANS.clear()
        together = bridge_prices([*bars, bars[3]], minutes, "csv", index)  # a day asked twice: one plan
        assert together == [path[index] for path in [*alone, alone[3]]]
        assert bridge_prices(bars, minutes, "csv", index) == together[:-1]  # the kept plans, priced again
    for bar in bars:
        if bar.high > bar.low and minutes >= 2:
            key = intraday_path._key(bar, minutes, "csv")
            assert intraday_path._plan(*key).walks == _reference_walks(bar, minutes, "csv")


def test_a_minute_outside_a_session_is_refused_in_a_batch_too() -> None:
    with pytest.raises(IndexError):
        bridge_prices(_bars()[:3], 390, "csv", 391)
    assert bridge_prices([], 390, "csv", 5) == []
    assert bridge_price(_bars()[1], 390, "csv", 390) == _bars()[1].close
