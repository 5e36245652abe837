"""What `llmtrade backtest sweep --json` prints (`SweepResult`), and its published schema (DOCUMENTS)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from llmtrade.app.results import Result
from llmtrade.sweep.board import SweepLeaderboard


class SweepRun(Result):
    """One run of the sweep and how it ended (`status`): "finished" by this invocation; "done_earlier", finished by an
    earlier invocation of the sweep and not run now (0 attempts, no seconds; the table says "done earlier"); "failed"
    after `attempts`. Before, a run done earlier read "resumed" here alone, as if this invocation had picked it up."""

    run_id: str
    backtest: str
    label: str
    status: Literal["finished", "done_earlier", "failed"] = Field(
        description="finished (by this invocation), done_earlier (finished by an earlier one, not run now), failed"
    )
    attempts: int  # attempts made by this invocation
    resumed_weeks: int = Field(
        default=0,
        description="a run finished now that resumed its backtest: the weeks an earlier, stopped attempt or invocation "
        "had finished (0: run from its first week)",
    )
    weeks: int | None = Field(default=None, description="a run finished now: the weeks of its range")
    seconds: float | None = None  # this invocation's last attempt
    error: str | None = None
    # A failure no retry mends (exit 1 or 2: a bad file, a refused setting, a range outside the prices), not retried:
    # what `error` names is to be fixed before the sweep is run again (a retry, or a rerun as it stands, meets it).
    permanent: bool = Field(
        default=False,
        description="failed on an error every attempt meets alike (exit 1 or 2): fix what `error` names, then rerun",
    )
    # The sweep exits as its failed runs' codes say (commands/sweep.py `_failure`): it exited 1 for runs that had
    # all failed on bad input, which `llmtrade backtest` alone refuses with 2.
    exit_code: int | None = Field(
        default=None,
        description="a failed run: the exit code its error gives `llmtrade backtest` alone: 2 bad input (a usage "
        "error), 1 an operational failure, 75 a temporary one; the sweep exits 1 if any run's is 1, else 75 if any "
        "is 75, else 2",
    )


class SweepResult(Result):
    """`backtest sweep --json`: the runs and the sweep's leaderboard. Two sweeps of the same file give the same
    `leaderboard` whatever the executor and workers (`runs` hold wall times and attempts)."""

    name: str
    database: str
    executor: str
    workers: int
    runs: list[SweepRun]
    finished: int
    failed: int
    leaderboard: SweepLeaderboard
    seconds: float


DOCUMENTS: dict[str, Any] = {"backtest sweep": SweepResult}
