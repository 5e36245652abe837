"""The note of a leaderboard where no account can yet be told from FLAT names the account its "weeks more" belongs to
and which way it would be told. A new user read "about 39 more needed", a losing account's (Sharpe -1.66), as the wait
to learn whether a model beats FLAT; the best account needed 104."""

from __future__ import annotations

from llmtrade.analytics.records import Interval, Standing
from llmtrade.app.board_notes import undecided_note
from tests.test_report_html import standing


def _account(name: str, sharpe: float, more: float) -> Standing:
    wide = Interval(estimate=sharpe, low=sharpe - 3, high=sharpe + 3)  # contains zero: nobody told from FLAT
    return standing(name, sharpe).model_copy(update={"sharpe": wide, "weeks_more": more})


def test_a_losing_nearest_account_is_said_to_be_told_worse_and_the_nearest_winner_named_too() -> None:
    note = undecided_note([_account("acct_1", -1.66, 38.2), _account("acct_2", 0.81, 103.5), standing("FLAT", None)])
    assert note is not None
    assert "the nearest, acct_1 (Sharpe -1.66) needs about 39 more to be told worse than FLAT" in note, note
    assert "the nearest to be told better, acct_2 (Sharpe 0.81) needs about 104 more" in note, note


def test_a_winning_nearest_account_is_named_alone() -> None:
    note = undecided_note([_account("acct_1", -0.2, 400.0), _account("acct_2", 0.9, 60.1)])
    assert note is not None and "the nearest, acct_2 (Sharpe 0.90) needs about 61 more (estimates" in note, note
    assert "acct_1" not in note


def test_when_every_account_loses_no_account_is_said_to_be_near_being_told_better() -> None:
    note = undecided_note([_account("acct_1", -0.4, 90.0), _account("acct_2", -1.1, 30.0)])
    assert note is not None and "acct_2 (Sharpe -1.10) needs about 30 more to be told worse than FLAT" in note
    assert "no account has a positive Sharpe ratio to be told better" in note, note


def test_a_psr_over_95_beside_weeks_still_needed_is_explained() -> None:
    """A trial's real-price backtest: SPY's PSR 95.6% and "16 weeks more" read as a contradiction (one-sided against
    two-sided at 95%)."""
    from llmtrade.app.board_notes import levels_note

    spy = _account("SPY", 1.8, 15.2).model_copy(update={"psr": 0.956})
    told = _account("acct_1", 2.5, 0.0).model_copy(update={"psr": 0.99})  # needs no more weeks: nothing to explain
    low = _account("acct_2", 0.5, 80.0).model_copy(update={"psr": 0.70})
    note = levels_note([spy, told, low])
    assert note is not None and note.startswith("SPY: PSR over 95% with weeks still needed is no contradiction")
    assert "one-sided" in note and "two-sided at 95%" in note
    assert levels_note([told, low]) is None


def test_a_fraction_of_a_week_more_is_a_week_more_as_in_the_table() -> None:
    """A cron trial: the note said acct_4 "has its minimum track record length" beside its row's "weeks more 1"
    (0.123 weeks more, rounded up in the table)."""
    note = undecided_note([_account("acct_4", 2.9, 0.123)])
    assert note is not None and "acct_4 (Sharpe 2.90) needs about 1 more" in note, note
    reached = undecided_note([_account("acct_4", 2.9, 0.0)])
    assert reached is not None and "has its minimum track record length, yet its intervals contain zero" in reached


def test_the_flat_accounts_note_reads_right_for_one_and_for_several() -> None:
    from llmtrade.app.board_notes import flat_account_note

    assert flat_account_note([]) is None
    one = flat_account_note(["acct_6"])
    assert one is not None and one.startswith("acct_6 is the FLAT account: it holds its cash and never trades")
    several = flat_account_note(["acct_6", "acct_7"])
    assert several is not None and several.startswith("acct_6, acct_7 are FLAT accounts: each holds its cash")


def test_a_psr_under_5_beside_weeks_still_needed_is_explained_as_its_mirror_is() -> None:
    """A losing row's PSR of 2.6% reads as 97.4% sure it is worse than FLAT, beside "weeks more 1": the same one-sided
    against two-sided reading the note explains for a PSR over 95%, which said nothing of it."""
    from llmtrade.app.board_notes import levels_note

    losing = _account("acct_2", -6.2, 0.6).model_copy(update={"psr": 0.026})
    told = _account("acct_3", -9.0, 0.0).model_copy(update={"psr": 0.001})  # needs no more weeks: nothing to explain
    note = levels_note([losing, told])
    assert note is not None and note.startswith("acct_2: PSR under 5% with weeks still needed is no contradiction")
    assert "one-sided" in note and "two-sided at 95%" in note and "acct_3" not in note
    both = levels_note([_account("SPY", 1.8, 15.2).model_copy(update={"psr": 0.956}), losing])
    assert both is not None and both.startswith("SPY: PSR over 95%; acct_2: PSR under 5% with weeks still needed")


def test_of_accounts_past_their_minimum_track_record_the_nearest_is_the_one_needing_fewest_weeks() -> None:
    """A real-price backtest of 29 daily returns: acct_1 (Sharpe -4.96) needed 4.57 weeks and acct_5 (Sharpe -6.39)
    4.0, both under the 5.8 there were, so both read "weeks more 0"; the note named acct_1 as the nearest, the first
    of the tie, where acct_5 is nearer by its minimum track record length."""

    def past(name: str, sharpe: float, needed: float) -> Standing:
        wide = Interval(estimate=sharpe, low=sharpe - 6, high=sharpe + 7)  # the bootstrap's: still contains zero
        return _account(name, sharpe, 0.0).model_copy(update={"sharpe": wide, "weeks_needed": needed})

    first, second = past("acct_1", -4.96, 4.57), past("acct_5", -6.39, 4.0)
    for board in ([first, second], [second, first]):
        note = undecided_note(board, backtest=True)
        assert note is not None
        assert "the nearest, acct_5 (Sharpe -6.39) has its minimum track record length" in note, note


def test_trial_accounts_with_the_same_books_close_for_close_are_said_to_be_one_result() -> None:
    """Offline, acct_2 and acct_3 traded alike every week of a year's backtest: two rows, one result, nothing said."""
    from datetime import date

    from llmtrade.analytics.records import Curve
    from llmtrade.app.board_notes import same_books_notes

    days = (date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4))

    def curve(name: str, equity: tuple[float, ...], kind: str = "account") -> Curve:
        return Curve(name=name, kind=kind, sessions=days, equity=equity, gross_exposure=(0.0, 0.5, 0.5))

    curves = [
        curve("acct_1", (100_000.0, 100_500.0, 100_200.0)),
        curve("acct_2", (100_000.0, 99_800.0, 100_100.0)),
        curve("acct_3", (100_000.0, 99_800.0, 100_100.0)),
        curve("acct_4", (100_000.0, 99_800.0, 100_100.01)),  # a cent apart at one close: another result
        curve("acct_6", (100_000.0, 100_000.0, 100_000.0)),  # the FLAT account beside the baseline: no trial
        curve("FLAT", (100_000.0, 100_000.0, 100_000.0), kind="baseline"),
    ]
    notes = same_books_notes(curves, {"acct_1", "acct_2", "acct_3", "acct_4"})
    assert len(notes) == 1
    assert notes[0].startswith("acct_2 and acct_3 hold the same books, close for close")
    assert "each still counts in the trials" in notes[0]
    assert same_books_notes(curves, {"acct_1", "acct_4"}) == []
    # Books that never moved (a first week before any close marked a fill) are cash alike: no note of one result.
    still = [curve("acct_7", (100_000.0,) * 3), curve("acct_8", (100_000.0,) * 3)]
    assert same_books_notes(still, {"acct_7", "acct_8"}) == []
    three = same_books_notes([*curves, curve("acct_5", curves[1].equity)], {"acct_2", "acct_3", "acct_5"})
    assert three[0].startswith("acct_2, acct_3 and acct_5 hold the same books")
