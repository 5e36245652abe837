"""No Sharpe, Sortino or Calmar on fewer daily returns than `metrics.MIN_RETURNS_FOR_RATIO` (a week's ratio is noise:
its standard error is some 7, Lo 2002), and from there the ratios an independent computation (numpy) gives; the note
that says why and how many returns each short row has."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from llmtrade.analytics import curves, metrics
from llmtrade.analytics.records import TURNOVER_NOTE, Curve, Leaderboard
from llmtrade.analytics.standings import short_note, standings
from llmtrade.domain.sweeps import SweepRunFinished
from llmtrade.sweep.board import sweep_leaderboard


def _track(name: str, steps: list[float]) -> curves.Track:
    equity = [10_000.0]
    for step in steps:
        equity.append(equity[-1] * (1 + step))
    n = len(equity)
    days = tuple(date(2026, 1, 5) + timedelta(days=i) for i in range(n))
    curve = Curve(name=name, kind="account", sessions=days, equity=tuple(equity), gross_exposure=(0.5,) * n)
    return curves.Track(
        curve=curve,
        trades=(0,) * n,
        wins=(0,) * n,
        costs_usd=(0.0,) * n,
        traded_usd=(0.0,) * n,
        bought_usd=(0.0,) * n,
        sold_usd=(0.0,) * n,
    )


def _steps(n: int) -> list[float]:
    # Ups and downs, so that the Sortino ratio's downside and the Calmar ratio's drawdown are not zero.
    return [0.01 * math.sin(1.7 * i) + 0.002 for i in range(n)]


def test_a_row_of_one_return_under_the_minimum_shows_no_ratio() -> None:
    n = metrics.MIN_RETURNS_FOR_RATIO - 1
    assert n == 19
    [row] = standings([_track("acct_1", _steps(n))], trials=1, trial_names={"acct_1"})
    returns = metrics.daily_returns(_track("acct_1", _steps(n)).curve.equity)
    assert metrics.sharpe(returns) is not None and metrics.sortino(returns) is not None  # the formulas give some
    assert (row.sharpe.estimate, row.sortino, row.calmar) == (None, None, None)
    assert row.volatility is None and row.cagr is None  # annualised too: one rule for every annualised figure
    assert row.total_return != 0.0 and row.max_drawdown is not None  # what happened is still shown


def test_from_the_minimum_the_ratios_are_what_numpy_gives() -> None:
    n = metrics.MIN_RETURNS_FOR_RATIO
    track = _track("acct_1", _steps(n))
    [row] = standings([track], trials=1, trial_names={"acct_1"})
    equity = np.array(track.curve.equity)
    r = equity[1:] / equity[:-1] - 1
    sharpe = r.mean() / r.std(ddof=1) * np.sqrt(252)
    sortino = r.mean() / np.sqrt(np.mean(np.minimum(r, 0) ** 2)) * np.sqrt(252)
    cagr = (equity[-1] / equity[0]) ** (252 / n) - 1
    drawdown = np.max(1 - equity / np.maximum.accumulate(equity))
    assert row.sharpe.estimate == pytest.approx(sharpe, rel=1e-9)
    assert row.sharpe.low is not None  # and its interval, from the same number of returns
    assert row.sortino == pytest.approx(sortino, rel=1e-9)
    assert row.calmar == pytest.approx(cagr / drawdown, rel=1e-9)


def test_the_note_names_each_short_stretch_and_the_standard_error_of_the_fewest() -> None:
    note = short_note([("the whole range", 4), ("acct_3's row", 2), ("acct_3's row", 2)])
    assert note is not None
    assert "n/a under 20 daily returns (the whole range: 4 daily returns; acct_3's row: 2 daily returns)" in note
    assert f"{math.sqrt(252 / 2):.1f} on 2" in note and "11.2 on 2" in note  # sqrt(252/2), by hand
    assert "Lo 2002" in note


def test_the_note_says_nothing_from_the_minimum_nor_of_rows_of_no_return() -> None:
    assert short_note([("the whole range", 20)]) is None
    assert short_note([("the whole range", 19)]) is not None
    assert short_note([("the whole range", 0)]) is None  # no figure to mistake: nothing shown at all
    beside = short_note([("acct_3's row", 0), ("acct_4's row", 19)])
    assert beside is not None and "(acct_4's row: 19 daily returns)" in beside and "3.6 on 19" in beside
    assert short_note([("the whole range", 1)]) is not None and "15.9 on 1" in short_note([("the whole range", 1)])


def test_a_sweeps_rows_of_a_week_show_no_ratio_even_from_a_run_stored_with_one() -> None:
    """A sweep's rows come from each run's stored leaderboard; one stored before the minimum still held a week's
    Sharpe ratio, which the sweep's board showed and ranked by."""
    track = _track("acct_1", _steps(5))
    [row] = standings([track], trials=1, trial_names={"acct_1"})
    old = row.model_copy(update={"sharpe": row.sharpe.model_copy(update={"estimate": 4.2}), "sortino": 6.0})
    days = track.curve.sessions
    board = Leaderboard(
        source="backtest w", start=days[0], end=days[-1], sessions=5, trials=1, bootstrap="b", standings=(old,),
        curves=(track.curve,),
    )  # fmt: skip
    run = SweepRunFinished(
        run_id="w", backtest="w", label="week", axes={}, start=days[0], end=days[-1], attempt=1,
        trial_accounts=["acct_1"], leaderboard=board.model_dump(mode="json"),
    )  # fmt: skip
    sweep = sweep_leaderboard("s", ["w"], 1, {"w": run})
    [shown] = sweep.rows
    assert (shown.standing.sharpe.estimate, shown.standing.sortino, shown.standing.calmar) == (None, None, None)
    assert any("(week acct_1: 5 daily returns)" in n for n in sweep.notes)


def test_a_sweeps_short_rows_hide_every_annualised_figure_and_it_says_the_risk_free_rate() -> None:
    """A run's leaderboard stored before CAGR, volatility, turnover and the excess a year were hidden under the minimum
    still held them (one return made SPY's CAGR +1198.9%): the sweep's board blanked only the three ratios, and said
    nowhere that its Sharpe ratios are against a risk-free rate of 0."""
    track = _track("acct_1", _steps(5))
    [row] = standings([track], trials=1, trial_names={"acct_1"})
    stored = {"estimate": 0.8, "low": 0.1, "high": 1.5}
    old = row.model_copy(
        update={
            "cagr": 11.989, "volatility": 0.2, "turnover": 250.0,
            "excess_vs_flat": row.excess_vs_flat.model_copy(update=stored),
            "excess_vs_spy": row.excess_vs_spy.model_copy(update=stored),
        }
    )  # fmt: skip
    days = track.curve.sessions
    board = Leaderboard(
        source="backtest w", start=days[0], end=days[-1], sessions=5, trials=1, bootstrap="b", standings=(old,),
        curves=(track.curve,),
    )  # fmt: skip
    run = SweepRunFinished(
        run_id="w", backtest="w", label="week", axes={}, start=days[0], end=days[-1], attempt=1,
        trial_accounts=["acct_1"], leaderboard=board.model_dump(mode="json"),
    )  # fmt: skip
    sweep = sweep_leaderboard("s", ["w"], 1, {"w": run})
    [shown] = sweep.rows
    s = shown.standing
    assert (s.cagr, s.volatility, s.turnover) == (None, None, None)
    for excess in (s.excess_vs_flat, s.excess_vs_spy):
        assert (excess.estimate, excess.low, excess.high) == (None, None, None)
    assert any("risk-free rate of 0" in n for n in sweep.notes)


def test_a_sweeps_rows_all_as_short_are_counted_not_listed() -> None:
    """The example sweep (8 runs of 3 weeks) listed all 40 rows, each label with its run's every axis, to say '14
    daily returns' 40 times: about 4,000 characters before the note's point."""
    note = short_note([(f"overrides=default seed={i} range=2026-01-07..2026-01-21 acct_1", 14) for i in range(40)])
    assert note is not None
    assert "n/a under 20 daily returns (all 40 rows: 14 daily returns each)" in note and len(note) < 700
    mixed = short_note([(f"run{i} acct_1", 14 if i else 9) for i in range(40)])
    assert mixed is not None and "run0 acct_1: 9 daily returns" in mixed  # not all alike: each is named


def test_short_rows_among_long_ones_are_not_said_to_be_all() -> None:
    """A sweep over two ranges, 30 rows of a long one and 10 of three weeks, read '(all 10 rows: 14 daily returns
    each)', as if every row of the board were n/a."""
    long = [(f"range=2025 seed={i} acct_1", 250) for i in range(30)]
    note = short_note([*long, *((f"range=2026 seed={i} acct_1", 14) for i in range(10))])
    assert note is not None
    assert "n/a under 20 daily returns (10 of the 40 rows: 14 daily returns each)" in note, note


def test_a_sweep_row_stored_with_two_way_turnover_shows_none_and_says_why() -> None:
    """A run's leaderboard stored before turnover was one-way (buys and sells summed: a buy-and-hold's purchase read as
    5 turns a year) showed its turnover beside the one-way figures of later runs under one column."""
    track = _track("acct_1", _steps(30))
    [row] = standings([track], trials=1, trial_names={"acct_1"})
    days = track.curve.sessions

    def run(name: str, notes: tuple[str, ...]) -> SweepRunFinished:
        board = Leaderboard(
            source=f"backtest {name}", start=days[0], end=days[-1], sessions=30, trials=1, bootstrap="b",
            standings=(row.model_copy(update={"turnover": 5.07}),), curves=(track.curve,), notes=notes,
        )  # fmt: skip
        return SweepRunFinished(
            run_id=name, backtest=name, label=name, axes={}, start=days[0], end=days[-1], attempt=1,
            trial_accounts=["acct_1"], leaderboard=board.model_dump(mode="json"),
        )  # fmt: skip

    sweep = sweep_leaderboard("s", ["old", "new"], 2, {"old": run("old", ()), "new": run("new", (TURNOVER_NOTE,))})
    turnover = {r.backtest: r.standing.turnover for r in sweep.rows}
    assert turnover == {"old": None, "new": 5.07}
    assert TURNOVER_NOTE in sweep.notes
    assert any(n.startswith("turnover n/a for 1 run stored by an earlier build (old)") for n in sweep.notes)
