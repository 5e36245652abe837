"""A checkpoint's run records its time and week, not its day (it judges the day it runs on), so the report took
Friday's 12:30 checkpoint for a rerun of Thursday's: a Thursday 12:30 run killed mid-way, closed unjudged past its
deadline, read "(a later run of the same job finished)", and the leaderboard's note on runs the books still lack left
it out (found by a cron trial: kill -9 of a checkpoint, then the week run on)."""

from __future__ import annotations

from llmtrade.app.report_records import RunLine
from llmtrade.app.report_runs import KILLED, unresolved


def _line(event_id: int, started_at: str, outcome: str) -> RunLine:
    return RunLine(
        event_id=event_id,
        run_id=f"r{event_id}",
        command="checkpoint",
        arguments={"time": "12:30", "week": "2026-11-04", "dry_run": False},
        started_at=started_at,
        mode="offline",
        outcome=outcome,
        end_event_id=event_id + 1,
        detail=(),
    )


def test_a_checkpoint_killed_on_thursday_is_not_resolved_by_fridays_checkpoint_at_the_same_time() -> None:
    thursday = _line(10, "2026-11-05T12:35:00-05:00", KILLED)
    friday = _line(20, "2026-11-06T12:35:00-05:00", "finished")
    assert unresolved([thursday, friday]) == [thursday]


def test_a_checkpoint_killed_and_rerun_the_same_day_is_resolved() -> None:
    killed = _line(10, "2026-11-05T12:35:00-05:00", KILLED)
    rerun = _line(20, "2026-11-05T13:05:00-05:00", "finished")
    assert unresolved([killed, rerun]) == []
