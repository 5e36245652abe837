"""`domain.backtests.unfinished`: the leaderboard's note for a backtest's books that stop before the range's end."""

from __future__ import annotations

from datetime import UTC, date, datetime

from llmtrade.domain import streams
from llmtrade.domain.backtests import (
    BacktestFinished,
    BacktestStarted,
    BacktestStopped,
    BacktestWeekDone,
    LookaheadAuditFailed,
    finish_missing,
    unfinished,
    week_not_done,
)
from llmtrade.domain.events import EventPayload, NewEvent, StoredEvent

W1, W2, W3 = date(2024, 1, 3), date(2024, 1, 10), date(2024, 1, 17)


def _stream(*payloads: EventPayload) -> list[StoredEvent]:
    at = datetime(2024, 1, 3, tzinfo=UTC)
    return [
        StoredEvent(**NewEvent.of(p, stream=streams.BACKTEST).model_dump(), id=i, version=i, occurred_at=at)
        for i, p in enumerate(payloads, start=1)
    ]


def _started(end: date) -> BacktestStarted:
    return BacktestStarted(
        name="y", start=W1, end=end, mode="offline", config_hash="c", data="csv:/d", data_hash="h", version="0"
    )


def test_live_books_and_a_finished_backtest_need_no_note() -> None:
    assert unfinished([]) is None
    done = _stream(_started(W2), BacktestWeekDone(week_id=W1, jobs=1), BacktestFinished(name="y", weeks=2))
    assert unfinished(done) is None


def test_a_backtest_extended_and_killed_counts_its_weeks_against_the_new_end() -> None:
    stream = _stream(
        _started(W1),
        BacktestWeekDone(week_id=W1, jobs=1),
        BacktestFinished(name="y", weeks=1),
        _started(W3),  # extended by two weeks, killed in the first of them
    )
    note = unfinished(stream)
    assert note is not None
    assert note.startswith(f"backtest y is unfinished: 1 of its 3 weeks ({W1} to {W3}) done")
    assert note.endswith("run the same `llmtrade backtest` command again to resume it")


def test_a_backtest_stopped_by_its_look_ahead_audit_is_not_to_be_resumed() -> None:
    leak = LookaheadAuditFailed(week_id=W2, role="pm_pitch", line=3, real="a", audited="b")
    note = unfinished(_stream(_started(W3), BacktestWeekDone(week_id=W1, jobs=1), leak))
    assert note is not None
    assert note.endswith(
        f"it failed its look-ahead audit at week {W2}, at its weekly run (pm_pitch, line 3): "
        "its results are not evidence"
    )


def test_a_backtest_stopped_by_an_error_a_rerun_meets_again_says_to_fix_it_first() -> None:
    """'run the same command again to resume it' met a permanent failure (a bad price file, exit 1) again; a temporary
    one (exit 75) is gone past by the same command later, and a resume that began since supersedes either."""
    bad = BacktestStopped(
        error="csv: /d/SPY.csv, line 9: SPY: 2024-01-09: Close 'nan' is not a finite number", exit_code=1
    )
    note = unfinished(_stream(_started(W3), BacktestWeekDone(week_id=W1, jobs=1), bad))
    assert note is not None
    assert note.endswith(
        f"its last run stopped on an error the same command meets again (exit 1: {bad.error}): fix what it names, then "
        "run the same `llmtrade backtest` command to resume it"
    ), note
    down = BacktestStopped(error="LLM provider unreachable", exit_code=75)
    note = unfinished(_stream(_started(W3), BacktestWeekDone(week_id=W1, jobs=1), down))
    assert note is not None and note.endswith("run the same `llmtrade backtest` command again later to resume it")
    note = unfinished(_stream(_started(W3), bad, _started(W3)))  # started again since (the file fixed), then killed
    assert note is not None and note.endswith("run the same `llmtrade backtest` command again to resume it")


def test_figures_past_the_weeks_done_are_said_with_the_part_of_the_week_they_hold() -> None:
    """A trial's note said "21 of its 104 weeks ... done, and these figures cover only those" beside figures to the
    close of the 22nd week's second session: the jobs of a week begun are in the books, and are said to be."""
    one_done = _stream(_started(W3), BacktestWeekDone(week_id=W1, jobs=1))
    # Its books end at the close of the last week's Tuesday: nothing of the next week, which is named still.
    note = unfinished(one_done, through=date(2024, 1, 9))
    assert note is not None
    assert (
        f"1 of its 3 weeks ({W1} to {W3}) done and week {W2} not done: these figures cover only the weeks done, none "
        "of its closes; run the same"
    ) in note
    note = unfinished(one_done, through=date(2024, 1, 11))
    assert note is not None
    assert (
        f"1 of its 3 weeks ({W1} to {W3}) done and week {W2} in part: these figures cover the weeks done and week "
        f"{W2}'s jobs to the close of 2024-01-11; run the same"
    ) in note
    note = unfinished(_stream(_started(W3)), through=date(2024, 1, 4))
    assert note is not None
    assert f"0 of its 3 weeks ({W1} to {W3}) done and week {W1} in part: these figures cover week {W1}'s jobs" in note


def test_every_week_done_without_its_finish_names_no_week() -> None:
    both = _stream(_started(W2), BacktestWeekDone(week_id=W1, jobs=1), BacktestWeekDone(week_id=W2, jobs=1))
    note = unfinished(both, through=date(2024, 1, 16))
    # Only its finish is missing (test_a_backtest_stopped_after_its_last_week_is_not_said_to_miss_a_week): no week.
    assert week_not_done(both) is None
    assert note is not None and f"every week of its range (2 weeks, {W1} to {W2}) is done" in note


def test_a_backtest_running_in_another_process_is_said_to_be_running_not_to_be_resumed() -> None:
    note = unfinished(_stream(_started(W3), BacktestWeekDone(week_id=W1, jobs=1)), running=True)
    assert note is not None and note.endswith(
        "it is still running (another process holds its database): these are the books it has written so far"
    )


def test_a_backtest_stopped_after_its_last_week_is_not_said_to_miss_a_week() -> None:
    """Stopped after its last week's BacktestWeekDone, before BacktestFinished: a trial's note read "1 of its 1 week
    done", as if weeks were missing; the same command records the finish (app/backtest.py, `finish_missing`)."""
    stream = _stream(_started(W2), BacktestWeekDone(week_id=W1, jobs=1), BacktestWeekDone(week_id=W2, jobs=1))
    assert finish_missing(stream)
    assert unfinished(stream, through=date(2024, 1, 16)) == (
        f"backtest y is unfinished in its record only: every week of its range (2 weeks, {W1} to {W2}) is done, but it "
        "stopped before recording its finish; these figures cover every week; run the same `llmtrade backtest` "
        "command again to record its finish"
    )
    assert not finish_missing(_stream(_started(W2), BacktestWeekDone(week_id=W1, jobs=1)))
    finished = _stream(
        _started(W2),
        BacktestWeekDone(week_id=W1, jobs=1),
        BacktestWeekDone(week_id=W2, jobs=1),
        BacktestFinished(name="y", weeks=2),
    )
    assert not finish_missing(finished) and unfinished(finished) is None
