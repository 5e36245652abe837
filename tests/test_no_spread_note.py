"""A ratio or an interval missing from a row with enough returns says why: no spread, or no downside.

Found reading a leaderboard of 74 daily returns: the accounts that never traded read "0.0% [n/a]" against FLAT, and
SPY "0.0% [n/a]" against itself, with nothing saying why the interval was missing (the note on too few returns did
not apply: there were 74). A note now names them and says the difference was 0 every session; rows short of returns
are left to that other note. So did their Sharpe and Sortino ("n/a" over 74 returns): their returns never varied.
"""

from __future__ import annotations

from datetime import date

from llmtrade.app.board_notes import no_ratio_note, no_spread_note
from llmtrade.app.leaderboard import build_leaderboard
from llmtrade.storage.bootstrap import Storage
from tests.test_leaderboard_build import _container, books, real_books  # noqa: F401

SAID = "each returned what that baseline returned every session"


def test_rows_without_spread_against_a_baseline_are_named(books: Storage, database_url: str) -> None:  # noqa: F811
    board = build_leaderboard(_container(database_url, None), books, source="live")
    idle = [s.name for s in board.standings if s.excess_vs_flat.estimate == 0.0 and s.excess_vs_flat.low is None]
    assert idle == ["acct_2", "acct_3", "acct_4", "acct_5", "acct_6", "FLAT"]
    [note] = [n for n in board.notes if SAID in n]
    assert note.startswith(
        "no interval for the excess vs FLAT of acct_2, acct_3, acct_4, acct_5, acct_6, FLAT; vs SPY of SPY: "
    ), note
    traded = next(s for s in board.standings if s.name == "acct_1")
    assert traded.excess_vs_flat.low is not None and "acct_1" not in note


def test_each_cutoff_period_says_it_for_its_own_rows(real_books: Storage, database_url: str) -> None:  # noqa: F811
    board = build_leaderboard(_container(database_url, date(2024, 12, 31)), real_books, source="live")
    before, after = board.periods
    said = [n for n in board.notes if SAID in n]
    assert [n.split(": no interval")[0] for n in said[1:]] == [before.label, after.label]


def test_rows_short_of_returns_are_left_to_the_note_on_too_few() -> None:
    from llmtrade.analytics.records import Interval
    from tests.test_small_falls import _row

    zero = Interval(estimate=0.0, low=None, high=None, level=0.95)
    short = _row("acct_2", 0.0, 0).model_copy(update={"excess_vs_flat": zero})  # 14 daily returns
    assert no_spread_note([short]) is None
    assert no_spread_note([short.model_copy(update={"sessions": 20})]) is not None


def test_rows_whose_returns_never_varied_or_never_fell_say_why_they_have_no_ratio(
    books: Storage,  # noqa: F811
    database_url: str,
) -> None:
    board = build_leaderboard(_container(database_url, None), books, source="live")
    still = [s.name for s in board.standings if s.sharpe.estimate is None]
    assert still == ["acct_2", "acct_3", "acct_4", "acct_5", "acct_6", "FLAT"]
    [note] = [n for n in board.notes if "a ratio over a standard deviation of 0 is undefined" in n]
    assert note.startswith(
        "Sharpe (and its interval, PSR, DSR and the weeks needed) and Sortino are n/a for acct_2, acct_3, acct_4, "
        "acct_5, acct_6, FLAT: their daily returns never varied"
    ), note
    from llmtrade.analytics.records import Interval
    from tests.test_small_falls import _row

    rising = _row("acct_1", 0.0, 0).model_copy(
        update={"sessions": 30, "sharpe": Interval(estimate=3.1, low=0.5, high=6.0, level=0.95), "volatility": 0.02}
    )
    assert no_ratio_note([rising]) == "Sortino is n/a for acct_1: no daily return below 0, so no downside deviation"
    assert no_ratio_note([rising.model_copy(update={"sessions": 14})]) is None  # too few: the other note says it


def test_rows_with_no_drawdown_say_why_their_calmar_is_n_a(books: Storage, database_url: str) -> None:  # noqa: F811
    """Found on a 12-week backtest: FLAT and the FLAT account read "n/a" under Calmar over 63 returns, and the note on
    ratios named Sharpe and Sortino only: CAGR over a drawdown of 0 is undefined, which nothing said."""
    board = build_leaderboard(_container(database_url, None), books, source="live")
    bare = [s.name for s in board.standings if s.calmar is None and s.cagr is not None]
    assert "FLAT" in bare
    [note] = [n for n in board.notes if "Calmar is n/a" in n]
    assert f"Calmar is n/a for {', '.join(bare)}: " in note, note
    from tests.test_small_falls import _row

    rising = _row("acct_1", 0.0, 0).model_copy(update={"sessions": 30, "cagr": 0.4, "volatility": 0.02})
    assert "Calmar is n/a for acct_1: " in (no_ratio_note([rising]) or "")
    fell = rising.model_copy(update={"max_drawdown": 0.01, "calmar": 40.0})
    assert "Calmar" not in (no_ratio_note([fell]) or "")
    assert no_ratio_note([rising.model_copy(update={"sessions": 14})]) is None  # too few: the other note says it


def test_baselines_say_why_they_have_a_psr_but_no_dsr(books: Storage, database_url: str) -> None:  # noqa: F811
    """Found on a 12-week backtest: SPY's row read "PSR 77.2%  DSR n/a" and EQUAL_WEIGHT's the same, with no note
    (the note on the DSR names accounts only): a baseline is no trial, nothing was picked among them to deflate for."""
    board = build_leaderboard(_container(database_url, None), books, source="live")
    bare = [s.name for s in board.standings if s.kind == "baseline" and s.psr is not None and s.dsr is None]
    assert bare
    [note] = [n for n in board.notes if n.startswith("DSR is n/a for the baselines")]
    assert f"DSR is n/a for the baselines {', '.join(bare)}: " in note, note
    from llmtrade.app.board_notes import baseline_dsr_note

    assert baseline_dsr_note([s for s in board.standings if s.kind == "account"]) is None
