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
            assert intraday_path._plan(*key).walk_values == _reference_walks(bar, minutes, "csv")


def test_a_minute_outside_a_session_is_refused_in_a_batch_too() -> None:
    with pytest.raises(IndexError):
        bridge_prices(_bars()[:3], 390, "csv", 391)
    assert bridge_prices([], 390, "csv", 5) == []
    assert bridge_price(_bars()[1], 390, "csv", 390) == _bars()[1].close


def test_a_days_quotes_at_its_checkpoints_are_each_minutes_own_price() -> None:
    from datetime import date, datetime, time

    from llmtrade.market.calendar import NEW_YORK, TradingCalendar
    from llmtrade.market.synthetic import SyntheticMarket
    from llmtrade.market.synthetic_quotes import SyntheticQuotes

    calendar = TradingCalendar()
    market = SyntheticMarket({"SPY": "equity", "QQQ": "equity", "TLT": "rates"})
    quotes = SyntheticQuotes(market, calendar)  # keeps the last day quoted
    asked = [
        (["SPY", "QQQ", "TLT"], date(2026, 1, 8), time(12, 0)),
        (["SPY", "QQQ", "TLT"], date(2026, 1, 8), time(14, 0)),
        (["TLT", "SPY"], date(2026, 1, 8), time(14, 0)),  # other symbols, the same day
        (["SPY", "QQQ", "TLT"], date(2026, 1, 8), time(15, 50)),
        (["SPY", "QQQ", "TLT"], date(2026, 1, 9), time(12, 0)),
        (["SPY", "QQQ", "TLT"], date(2026, 1, 8), time(9, 30)),  # back to a day quoted before
        (["SPY", "QQQ", "TLT"], date(2026, 11, 27), time(12, 30)),  # an early close: 210 minutes
    ]
    for symbols, day, at in asked:
        now = datetime.combine(day, at, tzinfo=NEW_YORK)
        got = quotes.latest(symbols, now)
        intraday_path._PLANS.clear()  # the day planned afresh, alone
        opens, closes = calendar.session_open(day), calendar.session_close(day)
        minutes = intraday_path.session_minutes(opens, closes)
        index, instant = intraday_path.point_at(opens, minutes, now)
        bars = market.daily_bars(symbols, day, day)
        want = {s: bridge_path(bars[s][0], minutes, "7")[index] for s in symbols}
        assert list(got) == symbols
        assert {s: q.price for s, q in got.items()} == want
        assert {q.as_of for q in got.values()} == {instant}
