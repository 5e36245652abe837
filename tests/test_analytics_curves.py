"""Equity curves from hand-made fills (exact equity, trades, costs), and the baselines from prices alone."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from fractions import Fraction

import pytest

from llmtrade.analytics import baseline_tracks, curves
from llmtrade.analytics.records import Curve
from llmtrade.analytics.standings import holding, standings, wiped_note
from llmtrade.domain.ledger import Split, fold
from llmtrade.domain.trading import Fill, Side
from llmtrade.domain.weeks import week_id_for
from llmtrade.market.calendar import NEW_YORK, TradingCalendar

CAL = TradingCalendar()
MON, TUE, WED, THU = date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7), date(2026, 1, 8)
DAYS = [MON, TUE, WED, THU]
CLOSES_AT = [CAL.session_close(d) for d in DAYS]


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=NEW_YORK)


def _fill(cid: str, side: Side, qty: int, price: float, at: datetime, symbol: str = "XYZ") -> Fill:
    return Fill(
        client_order_id=cid,
        account_id="acct_1",
        symbol=symbol,
        side=side,
        qty=qty,
        price=price,
        commission=1.0,
        filled_at=at,
    )


BUY = _fill("b1", Side.BUY, 10, 100.0, _at(TUE, 10))
SELL = _fill("s1", Side.SELL, 10, 108.0, _at(THU, 11))
XYZ = {"XYZ": {MON: 99.0, TUE: 105.0, WED: 110.0, THU: 90.0}}


def _track(fills: list[Fill], closes: curves.Closes = XYZ) -> curves.Track:
    return curves.account_track(
        "acct_1", fills, starting_cash=10_000.0, sessions=DAYS, closes_at=CLOSES_AT, closes=closes
    )


def test_a_buy_marked_at_the_close_then_sold_gives_exact_equity_trades_and_costs() -> None:
    track = _track([SELL, BUY])  # out of order on purpose: the curve reads them by fill time
    # Monday: cash. Tuesday: 8999 cash + 10 x 105. Wednesday: + 10 x 110. Thursday: sold at 108, flat.
    assert track.curve.equity == pytest.approx((10_000.0, 10_049.0, 10_099.0, 10_078.0))
    assert track.curve.gross_exposure == pytest.approx((0.0, 1050 / 10_049, 1100 / 10_099, 0.0))
    assert track.trades == (0, 0, 0, 1) and track.wins == (0, 0, 0, 1) and track.hit_rate == 1.0
    assert track.costs_usd == (0.0, 1.0, 1.0, 2.0)
    assert track.traded == pytest.approx(1000.0 + 1080.0)
    assert fold([BUY, SELL], 10_000.0).cash == pytest.approx(track.curve.equity[-1])  # the one accounting
    assert track.slippage is None  # not told what the broker's fills paid
    paper = curves.account_track(
        "acct_1", [BUY, SELL], starting_cash=10_000.0, sessions=DAYS, closes_at=CLOSES_AT, closes=XYZ, slippage_bps=5
    )
    assert paper.slippage == pytest.approx(2080.0 * 0.0005)


def test_a_span_by_opening_counts_a_trade_in_the_span_it_opened_in() -> None:
    """Bought Tuesday, sold Thursday: split at Wednesday's close (a knowledge cutoff's), the trade is the first
    span's, wherever it closed; counted by closing (the default) it is the second's. Costs stay with each fill."""
    track = _track([BUY, SELL])
    assert track.opened == (0, 1, 1, 1) and track.opened_wins == (0, 1, 1, 1)
    before, after = track.between(0, 2, by_opening=True), track.between(2, 3, by_opening=True)
    assert (before.trade_count, before.hit_rate, after.trade_count, after.hit_rate) == (1, 1.0, 0, None)
    assert (before.costs, after.costs) == (1.0, 1.0)
    assert (track.between(0, 2).trade_count, track.between(2, 3).trade_count) == (0, 1)
    # An open trade is counted nowhere yet: only round trips closed by the last close are.
    assert _track([BUY]).opened == (0, 0, 0, 0)


def test_a_fill_after_the_last_close_is_not_in_the_curve() -> None:
    late = _fill("late", Side.BUY, 5, 90.0, _at(date(2026, 1, 9), 10))
    track = _track([BUY, late])
    assert track.curve.equity[-1] == pytest.approx(8999.0 + 10 * 90.0)
    assert track.traded == pytest.approx(1000.0)


def test_a_day_without_a_close_keeps_the_last_close() -> None:
    gappy = {"XYZ": {MON: 99.0, TUE: 105.0, THU: 90.0}}  # no Wednesday bar
    assert _track([BUY], gappy).curve.equity == pytest.approx((10_000.0, 10_049.0, 10_049.0, 9_899.0))


def test_a_short_gains_when_the_price_falls() -> None:
    short = _fill("sh", Side.SELL, 10, 110.0, _at(WED, 10))
    track = _track([short])
    # Cash 10000 + 1100 - 1; short 10 marked at 110 then 90.
    assert track.curve.equity == pytest.approx((10_000.0, 10_000.0, 9_999.0, 10_199.0))
    assert track.curve.gross_exposure[-1] == pytest.approx(900 / 10_199)


def test_between_cuts_the_curve_and_counts_only_the_activity_inside() -> None:
    track = _track([BUY, SELL])
    later = track.between(1, 3)
    assert later.curve.sessions == (TUE, WED, THU)
    assert later.curve.equity == track.curve.equity[1:]
    assert later.costs == 1.0 and later.trade_count == 1 and later.traded == pytest.approx(1080.0)


def test_flat_is_constant_cash() -> None:
    flat = baseline_tracks.flat_track(DAYS, 10_000.0)
    assert flat.curve.equity == (10_000.0,) * 4 and flat.curve.gross_exposure == (0.0,) * 4
    assert flat.curve.kind == "baseline" and flat.curve.name == "FLAT"


def test_spy_buys_whole_shares_at_the_first_close_after_slippage_and_commission() -> None:
    spy = {"SPY": {MON: 100.0, TUE: 110.0, WED: 99.0, THU: 100.0}}
    costs = curves.Costs(slippage_bps=10, commission=1.0)
    track = baseline_tracks.buy_and_hold_track("SPY", DAYS, spy, 10_000.0, costs)
    # floor(9999 / 100.1) = 99 shares; cash left 10000 - 99 x 100.1 - 1 = 89.1.
    assert track.curve.equity == pytest.approx((10_000.0, 89.1 + 99 * 110, 89.1 + 99 * 99, 89.1 + 99 * 100))
    assert track.costs_usd == (0.0, 1.0, 1.0, 1.0) and track.trade_count == 0
    assert track.slippage == pytest.approx(99 * 100.1 * 0.001)
    assert track.curve.gross_exposure[1] == pytest.approx(99 * 110 / (89.1 + 99 * 110))


def test_equal_weight_rebalances_at_the_close_of_each_weeks_first_session() -> None:
    closes = {"A": {MON: 100.0, TUE: 100.0, WED: 200.0, THU: 200.0}, "B": dict.fromkeys(DAYS, 100.0)}
    track = baseline_tracks.equal_weight_track(["A", "B"], DAYS, closes, 10_000.0, curves.Costs())
    # Monday: 50 A + 50 B. Wednesday starts llmtrade's week: worth 15000, rebalanced to 37 A + 75 B
    # (selling 13 A for 2600, buying 25 B for 2500: 100 cash).
    assert track.curve.equity == pytest.approx((10_000.0, 10_000.0, 15_000.0, 15_000.0))
    assert track.traded == pytest.approx(5000 + 5000 + 2600 + 2500)
    assert track.trade_count == 0  # trimming a holding is not a round trip


def test_with_weekly_universes_equal_weight_holds_each_weeks_list_and_sells_what_left_it() -> None:
    """Watchlist mode: the committee could open A and B in the week of Monday's close, B and C from Wednesday's
    (a new watchlist); the baseline is that choice in equal weights, not the configured universe."""
    closes = {s: dict.fromkeys(DAYS, 100.0) for s in ("A", "B", "C", "D")}
    closes["A"] = {MON: 100.0, TUE: 100.0, WED: 200.0, THU: 200.0}
    weekly = {week_id_for(MON): ["A", "B"], week_id_for(WED): ["B", "C"]}
    track = baseline_tracks.equal_weight_track(["D"], DAYS, closes, 10_000.0, curves.Costs(), weekly)
    # Monday: 50 A + 50 B. Wednesday: worth 15,000; A (left the list) sold for 10,000, 75 B + 75 C.
    assert track.curve.equity == pytest.approx((10_000.0, 10_000.0, 15_000.0, 15_000.0))
    assert track.traded == pytest.approx(5000 + 5000 + 10_000 + 2500 + 7500)
    assert track.trade_count == 1  # A bought at 100 and sold at 200: a round trip, won
    # A week without a list of its own holds the configured universe.
    only_first = baseline_tracks.equal_weight_track(
        ["D"], DAYS, closes, 10_000.0, curves.Costs(), {week_id_for(MON): ["A"]}
    )
    assert only_first.traded == pytest.approx(10_000 + 20_000 + 20_000)  # all A, then A sold and all D at Wednesday


def test_a_buy_and_hold_without_a_close_to_trade_at_is_refused() -> None:
    with pytest.raises(ValueError, match="no close of SPY on 2026-01-05"):
        baseline_tracks.buy_and_hold_track("SPY", DAYS, {"SPY": {TUE: 1.0}}, 10_000.0, curves.Costs())


def test_equal_weight_holds_what_trades_a_symbol_listed_later_joins_at_its_first_rebalance() -> None:
    """Found with a universe holding an ETF launched after the range's start: the baseline raised 'no close of
    B' and the leaderboard stopped. It now weighs the symbols with a close and its note names the one left out."""
    closes = {"A": dict.fromkeys(DAYS, 100.0), "B": {WED: 50.0, THU: 50.0}}
    track = baseline_tracks.equal_weight_track(["A", "B"], DAYS, closes, 10_000.0, curves.Costs())
    # Monday: all in A (100 shares). Wednesday, B's first close: 50 A + 100 B.
    assert track.curve.equity == pytest.approx((10_000.0,) * 4)
    assert track.traded == pytest.approx(10_000 + 5_000 + 5_000)
    [note] = track.notes
    assert note.startswith("EQUAL_WEIGHT left B out of 1 of its 2 rebalances (on 2026-01-05): no close that day")


def test_equal_weight_keeps_a_holding_without_a_close_at_its_last_close() -> None:
    """Delisted, or a day missing from its file: the holding cannot trade that day, so it stays at its last close
    and the others are weighed with the rest of the value."""
    closes = {"A": dict.fromkeys(DAYS, 100.0), "B": {MON: 100.0, TUE: 200.0}}
    track = baseline_tracks.equal_weight_track(["A", "B"], DAYS, closes, 10_000.0, curves.Costs())
    # Monday: 50 A + 50 B. Tuesday: B doubles (15,000). Wednesday: B has no close: its 50 shares kept at 200
    # (10,000), the other 5,000 in A (50 shares, unchanged); Thursday the same.
    assert track.curve.equity == pytest.approx((10_000.0, 15_000.0, 15_000.0, 15_000.0))
    assert track.traded == pytest.approx(10_000)
    assert track.notes == (
        "EQUAL_WEIGHT left B out of 1 of its 2 rebalances (on 2026-01-07): no close that day (not listed yet, "
        "delisted, or a day missing from its prices); it weighed the symbols that had one with the rest of its "
        "value, and kept any shares of B it held, valued at their last close",
    )


def test_standings_deflate_only_the_trials_and_keep_flat_free_of_nan() -> None:
    a = _track([BUY, SELL])
    b = _track([BUY]).model_copy(update={"curve": _track([BUY]).curve.model_copy(update={"name": "acct_2"})})
    rows = standings([a, b, baseline_tracks.flat_track(DAYS, 10_000.0)], trials=2, trial_names={"acct_1", "acct_2"})
    by_name = {r.name: r for r in rows}
    # Three returns are too few for a DSR at all (tests/test_standings_evidence.py deflates 20); FLAT never has one.
    assert by_name["acct_1"].dsr is None and by_name["FLAT"].dsr is None
    # Nor any annualised figure (analytics/standings.py): a volatility or an excess a year of three returns is noise.
    assert by_name["FLAT"].sharpe.estimate is None and by_name["FLAT"].volatility is None
    assert by_name["acct_1"].excess_vs_flat.estimate is None and by_name["acct_1"].excess_vs_spy.estimate is None
    assert "NaN" not in rows[2].model_dump_json() and "Infinity" not in rows[2].model_dump_json()


def test_standings_refuse_tracks_over_different_sessions() -> None:
    short = baseline_tracks.flat_track(DAYS[:3], 10_000.0)
    with pytest.raises(ValueError, match="same sessions"):
        standings([_track([]), short], trials=1, trial_names=set())


def test_curve_records_are_frozen() -> None:
    with pytest.raises(ValueError):
        Curve(name="x", kind="account", sessions=(), equity=(), gross_exposure=()).name = "y"  # type: ignore[misc]


def test_a_trade_across_a_split_draws_the_same_curve_as_without_it_one_trade_at_its_real_pnl() -> None:
    """The leaderboard's closes come from the cache, restated by the provider after a split; the fills are as traded.
    Before, 10 shares bought at 100 and 20 sold at 54 after a 2-for-1 split drew a curve at half its value before the
    split, and a losing trade with a short opened (found by the money review)."""
    split = Split(symbol="XYZ", at=datetime.combine(WED, time(0), NEW_YORK), ratio=Fraction(2), price=55.0)
    restated = {"XYZ": {MON: 49.5, TUE: 52.5, WED: 110.0 / 2, THU: 90.0 / 2}}
    sold = _fill("s1", Side.SELL, 20, 54.0, _at(THU, 11))
    track = curves.account_track(
        "acct_1",
        [BUY, sold],
        starting_cash=10_000.0,
        sessions=DAYS,
        closes_at=CLOSES_AT,
        closes=restated,
        splits=[split],
    )
    assert track.curve.equity == pytest.approx((10_000.0, 10_049.0, 10_099.0, 10_078.0))
    assert track.trades == (0, 0, 0, 1) and track.wins == (0, 0, 0, 1)
    assert track.traded == pytest.approx(1000.0 + 1080.0)  # a split is no turnover
    assert track.costs_usd == (0.0, 1.0, 1.0, 2.0)


def test_a_held_symbol_without_a_close_is_its_own_error_when_closes_are_required() -> None:
    # status (app/status_drawdown.py) catches this error alone: a broad ValueError caught there hid any other (a
    # pydantic ValidationError is one), and a carried-over price across a gap in the bar cache is no close.
    gap = {"XYZ": {MON: 99.0, TUE: 105.0, THU: 90.0}}  # Wednesday's close missing
    assert _track([BUY], gap).curve.equity[2] == pytest.approx(10_049.0)  # the leaderboard's: Tuesday's carried
    with pytest.raises(curves.MissingClose) as raised:
        curves.account_track(
            "acct_1",
            [BUY],
            starting_cash=10_000.0,
            sessions=DAYS,
            closes_at=CLOSES_AT,
            closes=gap,
            require_closes=True,
        )
    assert (raised.value.symbol, raised.value.day) == ("XYZ", WED)


def test_a_position_held_on_no_equity_has_no_exposure_not_zero() -> None:
    """Found reading analytics/curves.py: the gross exposure at a close is |positions| over equity, and at a close
    where a short on a rising price had carried the equity to or below 0 it was recorded as 0.0, a fraction of nothing
    read as holding nothing: the row's average gross exposure fell (1.0 for 3.0 here) and the note on accounts still
    holding a position at the last close left the account out, though it held 100 shares short. The exposure there is
    None (null in --json): the average is over the closes where it is defined, the account is named as holding, and
    the wipe-out note says so."""
    short = _fill("x1", Side.SELL, 100, 100.0, _at(TUE, 10))
    rising = {"XYZ": {MON: 99.0, TUE: 150.0, WED: 210.0, THU: 250.0}}
    track = _track([short], rising)
    # Tuesday: 19,999 cash less 100 x 150; Wednesday and Thursday below 0.
    assert track.curve.equity == pytest.approx((10_000.0, 4_999.0, -1_001.0, -5_001.0))
    assert track.curve.gross_exposure[:2] == pytest.approx((0.0, 15_000 / 4_999))
    assert track.curve.gross_exposure[2:] == (None, None)
    assert json.loads(track.curve.model_dump_json())["gross_exposure"][2:] == [None, None]
    flat = baseline_tracks.flat_track(DAYS, 10_000.0)
    row = {s.name: s for s in standings([flat, track], trials=1, trial_names={"acct_1"})}["acct_1"]
    assert row.avg_gross_exposure == pytest.approx(15_000 / 4_999)  # over Tuesday, the one close it is defined at
    assert holding([track.curve]) == ["acct_1"]
    note = wiped_note([track.curve])
    assert note is not None and "average gross exposure is over the closes before it" in note
    # Held on no equity at every close after the start: no average at all, not 0.0.
    never = _track([_fill("x0", Side.SELL, 100, 100.0, _at(MON, 10))], {"XYZ": {d: 250.0 for d in DAYS}})
    assert never.curve.gross_exposure[1:] == (None, None, None)
    row = {s.name: s for s in standings([flat, never], trials=1, trial_names={"acct_1"})}["acct_1"]
    assert row.avg_gross_exposure is None
