"""A list cut short for a line names its first few and counts the rest, but never "and 1 more": one more is named."""

from __future__ import annotations

from datetime import date

from llmtrade.analytics.standings import open_trades_note
from llmtrade.domain.wording import named_first
from llmtrade.market.untraded import _days


def test_one_over_is_named_and_two_over_are_counted() -> None:
    names = [f"acct_{n}" for n in range(1, 8)]
    assert named_first(names[:5], 5) == "acct_1, acct_2, acct_3, acct_4, acct_5"
    assert named_first(names[:6], 5) == "acct_1, acct_2, acct_3, acct_4, acct_5, acct_6"
    assert named_first(names, 5) == "acct_1, acct_2, acct_3, acct_4, acct_5 and 2 more"
    assert named_first(names, 3, sep="; ", more="; and {n} more") == "acct_1; acct_2; acct_3; and 4 more"
    assert named_first([], 3) == ""


def test_the_leaderboards_open_position_note_names_a_sixth_holder() -> None:
    """A trial's note read "... acct_5 and 1 more" in the text, the JSON and the page."""
    note = open_trades_note([f"acct_{n}" for n in range(1, 7)], date(2024, 12, 31))
    assert note is not None and "acct_5, acct_6 still hold a position" in note and "more" not in note


def test_a_message_listing_days_names_a_fourth_rather_than_counting_it() -> None:
    days = [date(2024, 1, d) for d in (2, 3, 4, 5)]
    assert _days(days) == "2024-01-02, 2024-01-03, 2024-01-04, 2024-01-05"
