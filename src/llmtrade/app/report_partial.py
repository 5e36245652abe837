"""The report's mark on a listed week whose jobs are not all done: an unfinished backtest's week it stopped (or still
runs) inside, and the live week with no postmortem yet.

The leaderboard's notes say what part of such a week its figures hold (domain/backtests.py `unfinished`,
app/open_week.py); the week list showed the same week like any complete one (a new user's trial: a backtest stopped
by Ctrl-C inside its second week). Each mark says only what the events hold: that the week is not done, the last of
its runs recorded (a backtest's held appends may be lost with its process, so no later job is said not to have run),
and the close the figures reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from llmtrade.analytics.records import Leaderboard
from llmtrade.app import report_runs
from llmtrade.app.open_week import open_week
from llmtrade.app.report_records import WeekInPart, WeekReport
from llmtrade.domain.backtests import RUNNING
from llmtrade.storage.event_store import EventStore


def marked(events: EventStore, leaderboard: Leaderboard, weeks: Sequence[WeekReport]) -> tuple[WeekReport, ...]:
    """`weeks` with the one not done (if listed) marked `in_part`, as the leaderboard built from the same books says."""
    # A backtest's week is the one its leaderboard names (`unfinished_week`): the note and the mark are one reading.
    week_id = open_week(events, leaderboard.end) if leaderboard.source == "live" else leaderboard.unfinished_week
    return tuple(
        week.model_copy(update={"in_part": _mark(week, leaderboard)}) if week.week_id == week_id else week
        for week in weeks
    )


def _mark(week: WeekReport, leaderboard: Leaderboard) -> WeekInPart:
    end = leaderboard.end
    held = (
        f"the leaderboard's figures hold its jobs to the close of {end}"
        if end >= week.week_id
        else f"the leaderboard's figures hold none of it: they end at the close of {end}, before any of its closes"
    )
    last = _last_run(week)
    if leaderboard.source == "live":
        return WeekInPart(
            label="open",
            note=f"Open week: its weekly run completed and it has no postmortem yet; {last}; {held}, the last a run "
            "valued, as the leaderboard's note says.",
        )
    # The leaderboard's note says whether another process runs the backtest (its database's lock held); the week
    # says the same, from the same reading.
    if leaderboard.unfinished is not None and leaderboard.unfinished.endswith(RUNNING):
        return WeekInPart(
            label="running",
            note=f"Week in progress: {leaderboard.source} is still running in another process and has not done this "
            f"week; {last} so far; {held}, as the leaderboard's note says.",
        )
    return WeekInPart(
        label="partial",
        note=f"Partial week: {leaderboard.source} stopped inside it, before doing all its jobs; {last}, and no later "
        f"job of the week is in the books; {held}, as the leaderboard's note says.",
    )


def _last_run(week: WeekReport) -> str:
    if not week.runs:
        return "no run of it is recorded"
    run = week.runs[-1]
    when = datetime.fromisoformat(run.started_at).strftime("%Y-%m-%d %H:%M")
    return f"the last of its runs recorded is the {run.command} of {when} ({report_runs.shown(run.outcome)})"
