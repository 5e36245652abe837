"""PSR, DSR and the weeks needed of a leaderboard row only where there are returns enough to mean something:
hand-made curves, checked against Bailey & Lopez de Prado's formulas written here with scipy."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import scipy.stats

from llmtrade.analytics import curves, metrics, sharpe_odds
from llmtrade.analytics.records import Curve, CurveKind, Leaderboard
from llmtrade.analytics.standings import more_weeks, standings
from llmtrade.commands.render.common import pct
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.sweeps import SweepRunFinished
from llmtrade.sweep.board import sweep_leaderboard


def _track(name: str, equity: list[float], kind: CurveKind = "account") -> curves.Track:
    n = len(equity)
    days = tuple(date(2026, 1, 5) + timedelta(days=i) for i in range(n))
    curve = Curve(name=name, kind=kind, sessions=days, equity=tuple(equity), gross_exposure=(0.5,) * n)
    return curves.Track(
        curve=curve,
        trades=(0,) * n,
        wins=(0,) * n,
        costs_usd=(0.0,) * n,
        traded_usd=(0.0,) * n,
        bought_usd=(0.0,) * n,
        sold_usd=(0.0,) * n,
    )


def _rising(name: str, steps: list[float]) -> curves.Track:
    equity = [10_000.0]
    for step in steps:
        equity.append(equity[-1] * (1 + step))
    return _track(name, equity)


def test_one_week_of_rising_sessions_claims_no_probability_and_no_weeks_needed() -> None:
    # Five sessions, all up: the formulas give PSR 0.99999 and a minimum track record of 1.5 sessions
    # (0.3 weeks, shown as "0 weeks needed"), a certainty one week of data cannot give.
    week = [0.010, 0.012, 0.008, 0.011, 0.009]
    a, b = _rising("acct_1", week), _rising("acct_2", [r / 2 for r in reversed(week)])
    rows = {r.name: r for r in standings([a, b], trials=2, trial_names={"acct_1", "acct_2"})}
    row = rows["acct_1"]
    assert sharpe_odds.probabilistic_sharpe(week) > 0.9999  # what the row showed before
    assert metrics.sharpe(week) is not None and metrics.sharpe(week) > 10  # and a Sharpe ratio of a week
    assert (row.sharpe.estimate, row.sharpe.low, row.sharpe.high, row.sortino, row.calmar) == (None,) * 5
    assert (row.psr, row.dsr, row.weeks_needed, row.weeks_more) == (None, None, None, None)


def test_from_twenty_returns_psr_dsr_and_weeks_needed_follow_the_papers() -> None:
    steps_a = [0.004 * math.sin(i) + 0.001 for i in range(20)]
    steps_b = [0.003 * math.cos(i) + 0.0005 for i in range(20)]
    a, b = _rising("acct_1", steps_a), _rising("acct_2", steps_b)
    spy = _track("SPY", list(a.curve.equity), kind="baseline")
    rows = {r.name: r for r in standings([a, b, spy], trials=2, trial_names={"acct_1", "acct_2"})}
    assert rows["SPY"].psr == rows["acct_1"].psr and rows["SPY"].dsr is None  # a baseline is no trial
    row = rows["acct_1"]
    returns = metrics.daily_returns(a.curve.equity)
    sr = statistics_sharpe(returns)
    other = statistics_sharpe(metrics.daily_returns(b.curve.equity))
    skew = scipy.stats.skew(returns)
    kurt = scipy.stats.kurtosis(returns, fisher=False)
    spread = math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    psr = scipy.stats.norm.cdf(sr * math.sqrt(len(returns) - 1) / spread)
    variance = (sr - other) ** 2 / 2  # sample variance of two values
    gamma = 0.5772156649015329
    sr0 = math.sqrt(variance) * (
        (1 - gamma) * scipy.stats.norm.ppf(1 - 1 / 2) + gamma * scipy.stats.norm.ppf(1 - 1 / (2 * math.e))
    )
    dsr = scipy.stats.norm.cdf((sr - sr0) * math.sqrt(len(returns) - 1) / spread)
    min_trl = 1 + spread**2 * (scipy.stats.norm.ppf(0.975) / sr) ** 2  # two-sided at 95%: told apart either way
    assert row.psr == pytest.approx(psr, rel=1e-9)
    assert row.dsr == pytest.approx(dsr, rel=1e-9)
    assert row.weeks_needed == pytest.approx(min_trl / 5, rel=1e-9)
    # The weeks still needed: the minimum track record less the four weeks (20 sessions) there are.
    assert row.weeks == 4.0 and row.weeks_more == pytest.approx(max(0.0, min_trl / 5 - 4.0), rel=1e-9)


def statistics_sharpe(returns: list[float]) -> float:
    mean = sum(returns) / len(returns)
    return mean / math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))


def _finished(run_id: str, tracks: list[curves.Track]) -> SweepRunFinished:
    rows = standings(tracks, trials=2, trial_names={"acct_1", "acct_2"})
    days = tracks[0].curve.sessions
    board = Leaderboard(
        source=f"backtest {run_id}",
        start=days[0],
        end=days[-1],
        sessions=len(days) - 1,
        trials=2,
        bootstrap=metrics.bootstrap_description(),
        standings=rows,
        curves=tuple(t.curve for t in tracks),
    )
    return SweepRunFinished(
        run_id=run_id,
        backtest=run_id,
        label=run_id,
        axes={},
        start=days[0],
        end=days[-1],
        attempt=1,
        trial_accounts=["acct_1", "acct_2"],
        leaderboard=board.model_dump(mode="json"),
    )


def test_a_sweeps_board_deflates_only_runs_with_returns_enough() -> None:
    week = [0.010, 0.012, 0.008, 0.011, 0.009]
    month = [0.004 * math.sin(i) + 0.001 for i in range(20)]
    short = _finished("short", [_rising("acct_1", week), _rising("acct_2", [r / 2 for r in week])])
    long = _finished("long", [_rising("acct_1", month), _rising("acct_2", [r / 2 for r in reversed(month)])])
    board = sweep_leaderboard("s", ["short", "long"], 4, {"short": short, "long": long})
    dsr = {(row.backtest, row.account): row.standing.dsr for row in board.rows}
    assert dsr[("short", "acct_1")] is None and dsr[("short", "acct_2")] is None
    own = {r["name"]: r["dsr"] for r in long.leaderboard["standings"]}
    # Deflated for the sweep's 4 trials, not the run's own 2: here below the DSR of the run's own leaderboard.
    assert dsr[("long", "acct_1")] is not None and dsr[("long", "acct_1")] <= own["acct_1"]


def test_the_weeks_more_are_the_weeks_still_needed_and_never_below_zero() -> None:
    # Issue 13 asks for "the weeks still needed to tell each account from FLAT": with a minimum track record of 30
    # weeks and 10 of data, 20 more; with 10 weeks of data and 5 needed, none more (not -5).
    assert more_weeks(30.0, 10.0) == 20.0
    assert more_weeks(5.0, 10.0) == 0.0


def test_a_sweep_run_stored_before_weeks_more_reads_with_them() -> None:
    # A SweepRunFinished of schema 1 holds standings without `weeks_more`: read, they get it from the weeks needed
    # and the weeks there are (None where no minimum track record was known), and the sweep's board validates them.
    month = [0.004 * math.sin(i) + 0.001 for i in range(20)]
    finished = _finished("old", [_rising("acct_1", month), _rising("acct_2", [r / 2 for r in reversed(month)])])
    old = finished.model_dump(mode="json")
    for row in old["leaderboard"]["standings"]:
        del row["weeks_more"]
    old["leaderboard"]["standings"][1]["weeks_needed"] = None
    old["leaderboard"]["periods"] = [
        {
            "label": "all",
            "start": "2026-01-05",
            "end": "2026-01-25",
            "standings": [dict(old["leaderboard"]["standings"][0], weeks_needed=3.0)],
        }
    ]
    new = NewEvent.of(finished, stream="sweep")
    stored = StoredEvent(
        **{**new.model_dump(), "payload": old, "schema_version": 1},
        id=1,
        version=1,
        occurred_at=datetime(2026, 1, 26, tzinfo=UTC),
    )
    read = SweepRunFinished.from_event(stored)
    rows = read.leaderboard["standings"]
    expected = max(0.0, rows[0]["weeks_needed"] - rows[0]["weeks"])
    assert rows[0]["weeks_more"] == pytest.approx(expected) and rows[1]["weeks_more"] is None
    assert read.leaderboard["periods"][0]["standings"][0]["weeks_more"] == 0.0  # 3 needed, 4 there
    board = sweep_leaderboard("s", ["old"], 2, {"old": read})
    assert {row.account for row in board.rows} == {"acct_1", "acct_2"}


def test_an_account_a_one_sided_test_would_call_told_apart_still_needs_weeks_while_its_interval_holds_zero() -> None:
    # 200 daily returns (40 weeks) of near-normal noise whose Sharpe t-statistic is 1.8: past the one-sided 95%
    # test's 1.645, short of the two-sided 1.96 the 95% intervals make. The paper's one-sided minimum track record
    # is under 40 weeks ("0 weeks more"); told apart in either direction (two-sided), more weeks are needed.
    rng = np.random.default_rng(11)
    noise = rng.standard_normal(200)
    noise = (noise - noise.mean()) / noise.std(ddof=1)
    sigma = 0.01
    mu = 1.8 / math.sqrt(199) * sigma
    track = _rising("acct_1", [float(mu + sigma * z) for z in noise])
    returns = metrics.daily_returns(track.curve.equity)
    assert sharpe_odds.min_track_record(returns, level=0.95) < 200 < sharpe_odds.min_track_record(returns, level=0.975)
    row = standings([track], trials=1, trial_names={"acct_1"})[0]
    assert row.weeks == 40.0 and row.weeks_more is not None and row.weeks_more > 0
    assert row.sharpe.low is not None and row.sharpe.low < 0 < row.sharpe.high  # its interval: not told apart yet


def test_one_trial_is_not_deflated_its_dsr_is_its_psr() -> None:
    # Bailey & Lopez de Prado 2014: with N = 1 nothing was picked, the expected best Sharpe ratio of zero-skill trials
    # is 0 and the DSR is the PSR. A leaderboard of one PM read "DSR n/a" beside its PSR, with nothing to say why: the
    # spread of the trials' Sharpe ratios (which one trial cannot give) was asked for though N = 1 multiplies it by 0.
    steps = [0.004 * math.sin(i) + 0.001 for i in range(30)]
    rows = {r.name: r for r in standings([_rising("acct_1", steps)], trials=1, trial_names={"acct_1"})}
    assert rows["acct_1"].psr is not None and rows["acct_1"].dsr == rows["acct_1"].psr
    returns = metrics.daily_returns(_rising("acct_1", steps).curve.equity)
    assert sharpe_odds.deflated_sharpe(returns, 1, None) == sharpe_odds.probabilistic_sharpe(returns)
    assert sharpe_odds.deflated_sharpe(returns, 2, None) is None  # two trials: their spread is needed, and unknown here


def test_a_dsr_left_n_a_for_want_of_a_second_trials_sharpe_ratio_is_said() -> None:
    # Two PMs, one of which never traded (cash throughout: no Sharpe ratio): the DSR deflates by the spread of the
    # trials' Sharpe ratios, which one Sharpe ratio cannot give, so the other's DSR is n/a, beside its PSR, and
    # nothing said why (the leaderboard, a knowledge-cutoff period's rows, and a sweep's board alike).
    from llmtrade.app.board_notes import missing_figure_notes

    steps = [0.004 * math.sin(i) + 0.001 for i in range(30)]
    tracks = [_rising("acct_1", steps), _rising("acct_2", [0.0] * 30)]
    rows = standings(tracks, trials=2, trial_names={"acct_1", "acct_2"})
    assert rows[0].psr is not None and rows[0].dsr is None
    said = [note for note in missing_figure_notes(rows) if "DSR is n/a for acct_1" in note]
    assert len(said) == 1 and "spread of the trials' Sharpe ratios" in said[0]
    board = sweep_leaderboard("s", ["only"], 2, {"only": _finished("only", tracks)})
    assert [row.standing.dsr for row in board.rows if row.account == "acct_1"] == [None]
    assert any("DSR is n/a for 1 of the 2 rows" in note for note in board.notes), board.notes


def test_a_trial_wiped_out_still_counts_in_the_spread_the_dsr_deflates_by() -> None:
    # A trial whose equity reached 0 has no daily return after it, so its row has no ratio; but it was tried, and its
    # Sharpe ratio to the wipe-out (the loss of everything included) is one of the trials' the DSR's spread is of.
    # Left out, the worst trial narrowed the spread and raised the survivors' DSR, and its row said nothing of why it
    # read n/a over 0 sessions.
    steps_a = [0.004 * math.sin(i) + 0.001 for i in range(30)]
    steps_c = [0.003 * math.cos(i) + 0.0005 for i in range(30)]
    a, c = _rising("acct_1", steps_a), _rising("acct_3", steps_c)
    before = list(_rising("acct_2", [0.003 * math.sin(2 * i) for i in range(24)]).curve.equity)  # 24 returns
    wiped = _track("acct_2", [*before, 0.0, *([0.0] * 5)])
    rows = {r.name: r for r in standings([a, wiped, c], trials=3, trial_names={"acct_1", "acct_2", "acct_3"})}
    to_wipe_out = [*metrics.daily_returns(before), -1.0]
    sharpes = [
        statistics_sharpe(metrics.daily_returns(a.curve.equity)),
        statistics_sharpe(to_wipe_out),
        statistics_sharpe(metrics.daily_returns(c.curve.equity)),
    ]
    variance = float(np.var(sharpes, ddof=1))
    returns = metrics.daily_returns(a.curve.equity)
    assert rows["acct_1"].dsr == pytest.approx(sharpe_odds.deflated_sharpe(returns, 3, variance), rel=1e-12)
    assert rows["acct_2"].sessions == 0 and rows["acct_2"].sharpe.estimate is None and rows["acct_2"].dsr is None
    from llmtrade.analytics.standings import wiped_note

    note = wiped_note([a.curve, wiped.curve, c.curve])
    assert note is not None and "acct_2" in note and str(wiped.curve.sessions[25]) in note
    assert "acct_1" not in note and wiped_note([a.curve]) is None
    # A sweep's board alike: the run's wiped trial is in the spread of the sweep's trials.
    board = sweep_leaderboard("s", ["only"], 2, {"only": _finished("only", [a, _track("acct_2", wiped.curve.equity)])})
    two = float(np.var(sharpes[:2], ddof=1))
    dsr = {row.account: row.standing.dsr for row in board.rows}
    assert dsr["acct_1"] == pytest.approx(sharpe_odds.deflated_sharpe(returns, 2, two), rel=1e-12)


def test_a_sharpe_ratio_shown_without_its_interval_is_said_why() -> None:
    # A PM that held a position for one week of twelve and cash the rest: 55 of its 60 daily returns are 0, so more
    # than a tenth of the bootstrap's resamples hold no move at all and have no Sharpe ratio, and its interval is
    # n/a. Its Sharpe ratio of 1.56 read "1.56 [n/a]" with 60 returns and nothing said, the bare figure the leaderboard
    # otherwise never shows without its interval.
    from llmtrade.app.board_notes import missing_figure_notes

    steps = [0.0] * 50 + [0.01, -0.005, 0.002, 0.003, -0.001] + [0.0] * 5
    tracks = [_rising("acct_1", steps), _rising("acct_2", [0.004 * math.sin(i) + 0.001 for i in range(60)])]
    rows = standings(tracks, trials=2, trial_names={"acct_1", "acct_2"})
    assert rows[0].sharpe.estimate is not None and rows[0].sharpe.low is None and rows[1].sharpe.low is not None
    said = [note for note in missing_figure_notes(rows) if "Sharpe ratio's interval is n/a for acct_1" in note]
    assert len(said) == 1 and "acct_2" not in said[0]
    board = sweep_leaderboard("s", ["only"], 2, {"only": _finished("only", tracks)})
    assert any("Sharpe ratio's interval is n/a for 1 of the 2 rows" in note for note in board.notes), board.notes


def test_the_schema_says_which_downside_deviation_the_sortino_ratio_divides_by() -> None:
    # Two definitions are in use: the root mean square of min(r, 0) over every session (Sortino & Price 1994, as
    # metrics.sortino computes it) and the standard deviation of the losing sessions alone, which gives another figure
    # (sqrt(n / losing sessions) times it, and more). The --json schema said "downside deviation below 0", either.
    from llmtrade.analytics.records import Standing

    description = Standing.model_json_schema()["properties"]["sortino"]["description"]
    assert "root mean square of min(r, 0) over every session" in description
    steps = [0.01, -0.02, 0.015, 0.0, -0.005] * 4
    returns = metrics.daily_returns(_rising("acct_1", steps).curve.equity)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    assert metrics.sortino(returns) == pytest.approx(sum(returns) / len(returns) / downside * math.sqrt(252))


def test_a_trial_of_too_few_returns_for_a_ratio_is_left_out_of_the_dsrs_spread() -> None:
    # A PM added to accounts.yaml five sessions ago has a Sharpe ratio of five returns, noise by the leaderboard's own
    # rule (no ratio is shown under 20): in the spread of the trials' Sharpe ratios it swamped the others' and took
    # every DSR to 0.0. A sweep's short run alike. It still counts in N (it was tried).
    rng = np.random.default_rng(4)
    a = _rising("acct_1", (0.001 + 0.01 * rng.standard_normal(120)).tolist())
    b = _rising("acct_2", (0.0005 + 0.01 * rng.standard_normal(120)).tolist())
    late = _rising("acct_3", [0.0] * 115 + [0.004, 0.006, -0.001, 0.005, 0.003])
    names = {"acct_1", "acct_2", "acct_3"}
    rows = {r.name: r for r in standings([a, b, late], trials=3, trial_names=names, starts={"acct_3": 115})}
    sharpes = [statistics_sharpe(metrics.daily_returns(t.curve.equity)) for t in (a, b)]
    variance = float(np.var(sharpes, ddof=1))
    for track in (a, b):
        expected = sharpe_odds.deflated_sharpe(metrics.daily_returns(track.curve.equity), 3, variance)
        assert rows[track.curve.name].dsr == pytest.approx(expected, rel=1e-12)
    week = [0.010, 0.012, -0.008, 0.011, 0.009]
    month = (0.001 + 0.01 * rng.standard_normal(40)).tolist()
    short = _finished("short", [_rising("acct_1", week), _rising("acct_2", [r / 2 for r in week])])
    long = _finished("long", [_rising("acct_1", month), _rising("acct_2", [r / 2 + 0.001 for r in reversed(month)])])
    board = sweep_leaderboard("s", ["short", "long"], 4, {"short": short, "long": long})
    curves = {c.name: c for c in Leaderboard.model_validate(long.leaderboard).curves}
    spread = [statistics_sharpe(metrics.daily_returns(curves[name].equity)) for name in ("acct_1", "acct_2")]
    returns = metrics.daily_returns(curves["acct_1"].equity)
    dsr = {(row.backtest, row.account): row.standing.dsr for row in board.rows}
    expected = sharpe_odds.deflated_sharpe(returns, 4, float(np.var(spread, ddof=1)))
    assert dsr[("long", "acct_1")] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "equity", [[100.0, 2_000.0], [100.0, 100.0, 40_000.0], [100.0, 0.001]], ids=["1x20", "2x400", "down"]
)
def test_a_short_range_with_a_price_gap_ranks_without_an_overflow(equity: list[float]) -> None:
    # One to three daily returns over a price gap (an unadjusted reverse split, a bad print): (last / first) **
    # (252 / n) is past the largest float, and Python's float power raises OverflowError where numpy would give inf.
    # The row hides its CAGR under 20 returns anyway; the leaderboard must still be built, its total return what
    # happened.
    assert metrics.cagr(equity) is None or math.isfinite(metrics.cagr(equity) or 0.0)
    flat = _track("FLAT", [100.0] * len(equity), kind="baseline")
    row = standings([flat, _track("acct_1", equity)], trials=1, trial_names={"acct_1"})[1]
    assert row.cagr is None and row.total_return == pytest.approx(equity[-1] / equity[0] - 1)


def test_a_span_that_begins_at_no_equity_ranks_without_a_division_by_zero() -> None:
    # A knowledge-cutoff period (or a late account's span) that begins at a close where the account's equity was 0.00
    # (cents-rounded, after a wipe-out) and a short carried it below: the fall from a peak of 0 divided by 0 and the
    # whole leaderboard raised ZeroDivisionError. No fall is defined from a peak of nothing.
    assert metrics.max_drawdown([0.0, -50.0, -20.0]) == (0.0, 0)
    flat = _track("FLAT", [100.0] * 3, kind="baseline")
    row = standings([flat, _track("acct_1", [0.0, -50.0, -20.0])], trials=1, trial_names={"acct_1"})[1]
    assert row.sessions == 0 and row.sharpe.estimate is None


@pytest.mark.parametrize("equity", [[0.0, -50.0, -20.0], [0.0, 10.0], [-5.0, 20.0]], ids=["to-short", "up", "negative"])
def test_a_span_that_begins_at_no_equity_has_no_total_return_and_shows_n_a(equity: list[float]) -> None:
    # A return from nothing (or from less) is undefined: the row read "+0.0%", a figure nothing earned, beside an
    # account that went from 0.00 to 10.00. It is None (null in --json) and every view shows n/a.
    flat = _track("FLAT", [100.0] * len(equity), kind="baseline")
    row = standings([flat, _track("acct_1", equity)], trials=1, trial_names={"acct_1"})[1]
    assert row.total_return is None
    assert pct(row.total_return) == "n/a"
    assert json.loads(row.model_dump_json())["total_return"] is None


def test_the_weeks_needed_are_never_fewer_than_the_four_weeks_any_ratio_needs() -> None:
    # Thirty steady rising sessions: the minimum track record formula says a handful of sessions would do, and the row
    # read "min weeks 1" where the same leaderboard shows no ratio, interval or PSR under 20 daily returns (4 weeks).
    steps = [0.010 + 0.0005 * math.sin(i) for i in range(30)]
    row = standings([_rising("acct_1", steps)], trials=1, trial_names={"acct_1"})[0]
    returns = metrics.daily_returns(_rising("acct_1", steps).curve.equity)
    assert sharpe_odds.min_track_record(returns, level=0.975) < metrics.MIN_RETURNS_FOR_INTERVAL  # what it read
    assert row.weeks_needed == metrics.MIN_RETURNS_FOR_INTERVAL / 5 == 4.0
    assert row.weeks_more == 0.0


def test_a_sweep_run_stored_before_the_four_week_floor_promises_no_fewer_weeks_than_a_ratio_needs() -> None:
    # A run's leaderboard is stored in its SweepRunFinished as it was made: one made before the weeks needed were
    # floored at the 20 daily returns any ratio needs (or before PSR and the weeks needed were n/a under them) holds a
    # "min weeks 1.2" and "weeks more 0.2", or a PSR and weeks needed beside a row of 5 returns whose every ratio the
    # sweep's board hides: "2 more weeks", and then nothing computed. The sweep's rows now read them as a leaderboard
    # made today would: never under 4 weeks, and n/a (with PSR) under 20 returns.
    week = [0.010, 0.012, 0.008, 0.011, 0.009]
    month = [0.004 * math.sin(i) + 0.001 for i in range(25)]
    short = _finished("short", [_rising("acct_1", week), _rising("acct_2", [r / 2 for r in week])])
    long = _finished("long", [_rising("acct_1", month), _rising("acct_2", [r / 2 for r in reversed(month)])])
    for row in short.leaderboard["standings"]:
        row.update(psr=0.99, weeks_needed=0.3, weeks_more=0.0)
    for row in long.leaderboard["standings"]:
        row.update(weeks_needed=1.2, weeks_more=0.0)
    board = sweep_leaderboard("s", ["short", "long"], 4, {"short": short, "long": long})
    rows = {(row.backtest, row.account): row.standing for row in board.rows}
    for account in ("acct_1", "acct_2"):
        stale = rows[("short", account)]
        assert (stale.psr, stale.weeks_needed, stale.weeks_more) == (None, None, None)
        floored = rows[("long", account)]
        assert floored.weeks_needed == metrics.MIN_RETURNS_FOR_INTERVAL / 5 == 4.0
        assert floored.weeks_more == pytest.approx(max(0.0, 4.0 - floored.weeks))
