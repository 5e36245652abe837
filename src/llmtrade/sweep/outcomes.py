"""Outcomes an executor makes up for a run whose worker handed none back."""

from __future__ import annotations

from llmtrade.exits import TEMPORARY
from llmtrade.sweep.work import RunOutcome, RunTask


def lost(task: RunTask, exc: BaseException) -> RunOutcome:
    """The outcome of a task whose worker was lost before it could hand one back: failed, to be retried; temporary
    (exit 75): the run resumes inside its own backtest when the sweep is run again."""
    return RunOutcome(
        run_id=task.plan.run_id,
        attempt=task.attempt,
        error=f"worker lost: {type(exc).__name__}: {' '.join(str(exc).split())[:500]}",
        code=TEMPORARY,
        seconds=0.0,
        worker=0,
    )
