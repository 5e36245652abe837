"""What the evaluation commands return: `backtest`, `leaderboard` (the Leaderboard record itself) and
`report`. Frozen, like every result; `--json` is their dump and DOCUMENTS publishes their schemas."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field

from llmtrade.analytics.records import Leaderboard
from llmtrade.app.results import Result


class ReportWritten(Result):
    """`report`: the HTML file written (`path`, `bytes` long) and what it covers."""

    path: str = Field(description='the file written; "-" for standard output (`-o -`)')
    bytes: int
    weeks: int = Field(description="the weeks covered; a sweep's report: the weeks of the runs compared, summed")
    accounts: int
    runs: int | None = Field(None, description="a sweep's report: the runs compared; None for one set of books")
    # "0 runs (0 weeks in all)" was all a sweep's page with no finished run said of itself: not why, nor that its
    # page compares nothing.
    uncompared: str | None = Field(
        None,
        description="a sweep's report comparing no run: why none is compared (its runs' states, as: '1 failed, 2 not "
        "run'); None when one is",
    )
    # As the leaderboard's own --json says them (Leaderboard.unfinished, .unfinished_week): a script reading the
    # report's result had no word of a backtest stopped before its range's end.
    unfinished: str | None = Field(
        None,
        description="a backtest stopped before its range's end: the leaderboard's note on what its figures cover "
        "(Leaderboard.unfinished); None for the live books, a finished backtest and a sweep's report",
    )
    unfinished_week: date | None = Field(
        None,
        description="that backtest's week not done, marked in the report's week list (Leaderboard.unfinished_week)",
    )
    nothing_yet: str | None = Field(
        None,
        description="books with no trading yet: what the page says instead of figures (Leaderboard.nothing_yet, "
        "with when there will be some and what to do); None when it has figures",
    )


class AuditWeek(Result):
    """One audited week: passed, or where its cut-off rerun first differed from the real run."""

    week_id: date
    passed: bool
    calls: int
    # How many of its checkpoints were audited too and passed (None: none was: a market that cannot be cut inside a
    # session, the synthetic one). A failed checkpoint fails its week: `role` names it.
    checkpoints: int | None = None
    # Whether its postmortem was audited too, and passed (not: the week stopped or failed before it, or was resumed
    # with it written). A failed postmortem fails its week: `role` names it.
    postmortem: bool = False
    role: str | None = None
    line: int | None = None
    real: str | None = None
    audited: str | None = None


class BacktestTiming(Result):
    """Wall time: the one part of a backtest's result that differs between two runs of it."""

    seconds: float
    seconds_per_week: float | None
    by_kind: dict[str, float]  # seconds spent in each kind of job (weekly, checkpoint, postmortem, audit)


class BacktestResult(Result):
    """`backtest --json`. Two runs of the same backtest give the same document but for `timing` (and
    `name`/`database`, when they were given different names)."""

    name: str
    database: str
    start: date  # first week (a Wednesday)
    end: date  # last week
    mode: str
    prices: str  # where prices came from, e.g. "csv:/data/etf" or "synthetic"
    weeks: int  # weeks in the range
    weeks_done_before: int  # finished by an earlier invocation (a resume)
    weeks_run: int
    jobs: dict[str, int]  # jobs run now, per kind
    llm_calls: int  # model calls made now: a model's answers, live or replayed from the cache
    rules_answers: int = 0  # the offline rules provider's answers made now: no model's, $0
    degraded_runs: int
    leaderboard: Leaderboard  # as `leaderboard --backtest NAME` shows it, at the range's end
    audit: list[AuditWeek]
    timing: BacktestTiming


DOCUMENTS: dict[str, Any] = {
    "leaderboard": Leaderboard,
    "report": ReportWritten,
    "backtest": BacktestResult,
}
