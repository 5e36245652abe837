"""A synthetic bar does not depend on how far the path was generated: the calendar's horizon moves with the
day its file was built, and the market generates only as far as asked, so either would otherwise change
a backtest's stored events from one day or one range to the next."""

from __future__ import annotations

from datetime import date

import pytest

from llmtrade.market import synthetic
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.synthetic import ORIGIN, SyntheticMarket, _generate, _generate_extra, candidate_classes

UNIVERSE = (("GLD", "gold"), ("SPY", "equity"), ("TLT", "rates"))
EXTRAS = {"AAPL": "equity", "XLE": "equity", "EMB": "credit"}


def _horizons() -> tuple[tuple[date, ...], tuple[date, ...]]:
    calendar = TradingCalendar()
    long = tuple(calendar.sessions_between(ORIGIN, calendar.last_day))
    return long[:700], long  # a calendar built years earlier ends sooner: its sessions are a prefix


def test_the_universes_bars_on_common_sessions_are_the_same_over_two_horizons() -> None:
    short, long = _horizons()
    short_rows, short_factors = _generate(UNIVERSE, 7, short)
    long_rows, long_factors = _generate(UNIVERSE, 7, long)
    for symbol, _ in UNIVERSE:
        assert len(short_rows[symbol]) == len(short)
        assert short_rows[symbol] == long_rows[symbol][: len(short)]
    assert short_factors == long_factors[: len(short)]


@pytest.mark.parametrize("cut", [1, 255, 700, 1301])
def test_an_extras_bars_on_common_sessions_are_the_same_over_two_horizons(cut: int) -> None:
    _, long = _horizons()
    for symbol, asset_class in EXTRAS.items():
        short_rows = _generate_extra(symbol, asset_class, UNIVERSE, 7, long[:cut])
        long_rows = _generate_extra(symbol, asset_class, UNIVERSE, 7, long)
        assert len(short_rows) == cut
        assert short_rows == long_rows[:cut]  # every field: open, high, low and volume as well as close


def test_a_market_grown_by_later_requests_gives_the_bars_of_one_generated_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    universe, extra = dict(UNIVERSE), dict(sorted(candidate_classes().items())[:4])
    symbols = [*universe, *extra]
    monkeypatch.setattr(synthetic, "_SHARED", {})
    grown = SyntheticMarket(universe, extra=extra)
    early = grown.daily_bars(symbols, date(2016, 1, 4), date(2016, 3, 31))
    day = grown.daily_bars(symbols, date(2016, 3, 31), date(2016, 3, 31))
    late = grown.daily_bars(symbols, date(2016, 1, 4), date(2024, 12, 31))
    monkeypatch.setattr(synthetic, "_SHARED", {})
    whole = SyntheticMarket(universe, extra=extra)
    assert whole.daily_bars(symbols, date(2016, 1, 4), date(2024, 12, 31)) == late
    for s in symbols:
        assert late[s][: len(early[s])] == early[s] and day[s] == [early[s][-1]]
        assert late[s][-1].day == date(2024, 12, 31)


def test_a_market_generates_only_whole_blocks_up_to_the_day_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "_SHARED", {})
    market = SyntheticMarket(dict(UNIVERSE))
    market.daily_bars(["SPY"], date(2016, 1, 4), date(2016, 12, 30))
    generated = market._shared.sessions_through(date.min)
    assert len(generated) == 2 * synthetic._BLOCK and generated[0] == date(2015, 1, 2)
    assert generated[-1] >= date(2016, 12, 30)
    assert market.daily_bars(["SPY"], date(2025, 6, 2), date(2025, 6, 2))["SPY"][0].day == date(2025, 6, 2)
    assert len(market._shared.sessions_through(date.min)) > 2 * synthetic._BLOCK
