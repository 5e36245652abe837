"""A sweep's leaderboard: every traded account of every finished run, deflated for all the trials of the sweep.

Each run's own leaderboard (`llmtrade leaderboard --backtest RUN`) deflates its Sharpe ratios for the
accounts of that run only. Picking the best row of a sweep is picking among every account of every
configuration tried, so here the deflated Sharpe ratio (Bailey & Lopez de Prado 2014) is recomputed with
N = `trials`, the trial accounts (PMs and chairman) of every run in the sweep file (finished or not: a
failed configuration was tried too), and the variance of the per-session Sharpe ratios of every row.

Built from the leaderboards as stored in the sweep's database, in plan order, so the bytes depend only on
the runs' results, never on which backend ran them, how many workers, or in which order they finished.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from llmtrade.analytics import metrics
from llmtrade.analytics.records import Leaderboard, Standing
from llmtrade.app.leaderboard import TRIAL_ROLES
from llmtrade.domain.records import Record
from llmtrade.sweep.spec import RunPlan


class SweepRow(Record):
    """One account of one run: its standing over that run's sessions, its DSR deflated for the sweep."""

    backtest: str  # the run's backtest name: `leaderboard --backtest` / `report --backtest` open its books
    label: str  # the run's axes, e.g. "overrides=tight models=config memory=off seed=7 range=..."
    account: str
    standing: Standing


class SweepLeaderboard(Record):
    """The sweep's rows, best Sharpe estimate first (ties: plan order). `trials` is the deflated Sharpe's N."""

    name: str
    runs: int  # runs in the sweep file
    finished: int  # runs with a result
    trials: int
    rows: tuple[SweepRow, ...]
    notes: tuple[str, ...]


def trials_of(plans: Sequence[RunPlan]) -> int:
    """The accounts compared across the sweep: every run's PM and chairman accounts."""
    return sum(sum(1 for a in p.config.accounts.accounts if a.role in TRIAL_ROLES) for p in plans)


def sweep_leaderboard(name: str, plans: Sequence[RunPlan], boards: Mapping[str, dict[str, Any]]) -> SweepLeaderboard:
    """The leaderboard of sweep `name` from `boards` (run id -> that run's Leaderboard as JSON), over `plans`."""
    trials = trials_of(plans)
    picked: list[tuple[RunPlan, Standing, list[float]]] = []
    for plan in plans:
        stored = boards.get(plan.run_id)
        if stored is None:
            continue
        board = Leaderboard.model_validate(stored)
        names = {a.id for a in plan.config.accounts.accounts if a.role in TRIAL_ROLES}
        curves = {c.name: c for c in board.curves}
        for standing in board.standings:
            if standing.kind == "account" and standing.name in names:
                curve = curves.get(standing.name)
                picked.append((plan, standing, _returns(curve.equity) if curve else []))
    known = [s for s in (metrics.session_sharpe(r) for _, _, r in picked) if s is not None]
    variance = statistics.variance(known) if len(known) >= 2 else None
    rows = [
        SweepRow(
            backtest=plan.backtest,
            label=plan.label,
            account=standing.name,
            standing=standing.model_copy(update={"dsr": metrics.deflated_sharpe(returns, trials, variance)}),
        )
        for plan, standing, returns in picked
    ]
    order = sorted(range(len(rows)), key=lambda i: (_sharpe_key(rows[i]), i))
    finished = sum(1 for p in plans if p.run_id in boards)
    notes = (
        f"trials = {trials}: the PM and chairman accounts of all {len(plans)} runs of the sweep; the deflated "
        "Sharpe assumes the best of that many was picked",
        "each row's other figures are its own run's, over that run's sessions; baselines (FLAT, SPY, "
        "EQUAL_WEIGHT) are in each run's leaderboard: llmtrade leaderboard --backtest RUN",
    )
    return SweepLeaderboard(
        name=name,
        runs=len(plans),
        finished=finished,
        trials=trials,
        rows=tuple(rows[i] for i in order),
        notes=notes if finished == len(plans) else (*notes, f"{len(plans) - finished} run(s) have no result"),
    )


def _returns(equity: Sequence[float]) -> list[float]:
    try:
        return metrics.daily_returns(equity)
    except ValueError:  # a curve that reached zero: no return is defined after it
        return []


def _sharpe_key(row: SweepRow) -> float:
    estimate = row.standing.sharpe.estimate
    return -estimate if estimate is not None else float("inf")
