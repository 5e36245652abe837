"""What a leaderboard of a backtest's books says of its look-ahead audit (`backtest --audit N`): `audit_note`, read
from the backtest stream's verdicts (domain/backtests.py's events)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from llmtrade.domain.backtests import (
    BacktestStarted,
    CheckpointsAuditPassed,
    LookaheadAuditPassed,
    PostmortemAuditPassed,
    first_leak,
    weeks_done,
)
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.wording import counted, named_first


def audit_note(stream: Sequence[StoredEvent]) -> str | None:
    """What a leaderboard of these books must say of the look-ahead audit (`backtest --audit N`): the weeks audited
    and that each passed, or that none was. The run's own table was printed once, at its end, and neither the
    leaderboard nor the report said whether the books were ever audited. None for books with no backtest (the live
    ones) and for one that failed its audit (`unfinished` says that first).

    A week's weekly run is recorded passed when it runs, its checkpoints once the week's jobs are done: a backtest
    stopped inside an audited week has the first only, and its resume records the checkpoints left, audited then.
    Such a week is said apart while not done (counted among the weeks done, it read "7 of the 6 weeks done"), and
    once done, that its checkpoints run before the stop are not counted; an audited week with no checkpoint recorded
    (resumed by an earlier version, which audited none of them) is named. So is one whose postmortem, which writes the
    lessons every later week recalls, was not audited (`_postmortems`: books audited before postmortems were, a week
    resumed with its postmortem begun)."""
    if not any(e.type == BacktestStarted.event_type() for e in stream) or first_leak(stream) is not None:
        return None
    done = weeks_done(stream)
    weekly = {LookaheadAuditPassed.from_event(e).week_id for e in stream if e.type == LookaheadAuditPassed.event_type()}
    passed, running = sorted(weekly & done), sorted(weekly - done)
    inside = (
        f"; the weekly run of {_weeks(running)}, not done (the backtest stopped inside it), passed its audit too"
        if running
        else ""
    )
    if not passed:
        return (
            f"look-ahead audit: none of the {counted(len(done), 'week')} done was audited{inside}; `llmtrade backtest "
            "... --audit N` under a new --name reruns N weeks' weekly runs in a market holding no bar after their "
            "as-of session, their postmortems and, on CSV prices, each of their checkpoints in one holding nothing "
            "after its instant, and compares their prompts and decisions with the real runs'"
        )
    verdict = "it passed" if len(passed) == 1 else "each passed"
    # The pickers run before it were rerun too (app/backtest_audit_discovery.py) when a discovery ran before it.
    verdicts = [LookaheadAuditPassed.from_event(e) for e in stream if e.type == LookaheadAuditPassed.event_type()]
    discovered = any(key.startswith("discovery:") for v in verdicts for key in v.compared)
    run = (
        "the weekly run and the discovery before it (which sets the week's watchlist)"
        if discovered
        else "the weekly run"
    )
    said = (
        f"look-ahead audit: {len(passed)} of the {counted(len(done), 'week')} done audited ({_shown(passed)}), and "
        f"{verdict}: {run}, rerun in a market holding no bar after its as-of session, asked the same prompts and "
        "reached the same decisions"
    )
    checked = [CheckpointsAuditPassed.from_event(e) for e in stream if e.type == CheckpointsAuditPassed.event_type()]
    if not checked:
        starts = [BacktestStarted.from_event(e) for e in stream if e.type == BacktestStarted.event_type()]
        synthetic = any(start.data == "synthetic" for start in starts)
        # Said at the start too (app/backtest.py): the report's reader never saw that line.
        why = (
            ": the synthetic market's quotes cannot be cut inside a session (its intraday path is drawn through the "
            "session's own bar)"
            if synthetic
            else ""
        )
        return said + "; the checkpoints are not audited" + why + _postmortems(stream, passed) + inside
    checkpoints = sum(c.checkpoints for c in checked)
    weeks = sorted({c.week_id for c in checked})
    without = [w for w in passed if w not in weeks]
    of = counted(len(weeks), "week") if not without else f"{len(weeks)} of them ({_shown(weeks)})"
    said += (
        f"; so did {counted(checkpoints, 'checkpoint')} of {of}, each rerun in a market holding nothing after its "
        "instant (of its session, the open alone)"
    )
    if without:
        said += f"; the checkpoints of {_weeks(without)} were not audited"
    said += _postmortems(stream, passed)
    if resumed := _resumed_inside(stream):
        said += f"; of {_weeks(resumed)}, stopped inside, only the checkpoints run after the resume are counted"
    return said + inside


def _postmortems(stream: Sequence[StoredEvent], passed: Sequence[date]) -> str:
    """What the note says of the postmortems of the weeks done whose weekly run `passed` its audit: each whose
    postmortem passed too (PostmortemAuditPassed), and those not audited."""
    audited = {
        PostmortemAuditPassed.from_event(e).week_id for e in stream if e.type == PostmortemAuditPassed.event_type()
    }
    weeks = [week for week in passed if week in audited]
    if not weeks:
        return "; the postmortems are not audited"
    without = [week for week in passed if week not in audited]
    if without:
        whose = f"the postmortems of {len(weeks)} of them ({_shown(weeks)}), each"
    else:
        whose = "its postmortem," if len(weeks) == 1 else "their postmortems, each"
    said = (
        f"; {whose} rerun in a market holding nothing after its instant, passed too: the same prompts, and the same "
        "postmortems, outcomes and lessons (what later weeks recall) written"
    )
    return said + (f"; the postmortems of {_weeks(without)} were not audited" if without else "")


def _resumed_inside(stream: Sequence[StoredEvent]) -> list[date]:
    """The weeks whose checkpoints' verdict was recorded by an invocation that resumed them inside: a start between the
    week's weekly verdict and its checkpoints' (app/backtest_audits.py `going_on`)."""
    weekly: dict[date, int] = {}
    resumed: list[date] = []
    starts = 0
    for event in stream:
        if event.type == BacktestStarted.event_type():
            starts += 1
        elif event.type == LookaheadAuditPassed.event_type():
            weekly[LookaheadAuditPassed.from_event(event).week_id] = starts
        elif event.type == CheckpointsAuditPassed.event_type():
            week = CheckpointsAuditPassed.from_event(event).week_id
            if week in weekly and weekly[week] != starts:
                resumed.append(week)
    return sorted(resumed)


def _shown(weeks: Sequence[date]) -> str:
    """The first five of `weeks`, and how many more."""
    return named_first([str(week) for week in weeks], 5)


def _weeks(weeks: Sequence[date]) -> str:
    """ "week W" or "weeks W1, W2" (the first five, and how many more)."""
    return ("week " if len(weeks) == 1 else "weeks ") + _shown(weeks)
