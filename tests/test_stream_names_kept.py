"""A week's stream names are made once and kept: a checkpoint names its accounts' streams some thirty times, and
formatting the dates was most of each name's cost. The names are what they were."""

from __future__ import annotations

from datetime import date

from llmtrade.domain.streams import checkpoint_stream, week_stream

WEEK, DAY = date(2016, 1, 4), date(2016, 1, 6)


def test_a_checkpoints_stream_is_named_once_and_the_name_kept() -> None:
    first = checkpoint_stream(WEEK, DAY, "10:30", "acct_1")
    assert first == "week:2016-01-04:checkpoint:2016-01-06T10:30:acct_1"
    assert checkpoint_stream(WEEK, DAY, "10:30", "acct_1") is first
    assert checkpoint_stream(WEEK, DAY, "10:30") == "week:2016-01-04:checkpoint:2016-01-06T10:30"


def test_a_weeks_stream_is_named_once_and_the_name_kept() -> None:
    first = week_stream(WEEK, "pitches")
    assert first == "week:2016-01-04:pitches"
    assert week_stream(WEEK, "pitches") is first
    assert week_stream(date(2016, 1, 11), "pitches") == "week:2016-01-11:pitches"
