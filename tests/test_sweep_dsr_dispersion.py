"""The sweep's deflated Sharpe ratio takes its N and the dispersion of the trials' Sharpe ratios from the same trials:
every run of the file and every configuration an earlier version of it finished (sweep/board.py)."""

from __future__ import annotations

from datetime import date, timedelta

from llmtrade.analytics import curves
from llmtrade.analytics.records import Curve, Leaderboard
from llmtrade.analytics.standings import standings
from llmtrade.domain.sweeps import SweepRunFinished
from llmtrade.sweep.board import sweep_leaderboard

N = 30
DAYS = tuple(date(2026, 1, 5) + timedelta(days=i) for i in range(N + 1))


def _run(run_id: str, drift: float, swing: float) -> SweepRunFinished:
    """A finished run whose one trial account (acct_1) moves by `drift` a session, `swing` up and down around it."""
    equity = [10_000.0]
    for i in range(N):
        equity.append(equity[-1] * (1 + drift + (swing if i % 2 else -swing)))
    curve = Curve(name="acct_1", kind="account", sessions=DAYS, equity=tuple(equity), gross_exposure=(0.5,) * (N + 1))
    track = curves.Track(
        curve=curve,
        trades=(0,) * N + (4,),
        wins=(0,) * N + (2,),
        costs_usd=(0.0,) * N + (1.0,),
        traded_usd=(0.0,) * N + (1_000.0,),
        bought_usd=(0.0,) * N + (500.0,),
        sold_usd=(0.0,) * N + (500.0,),
    )
    [row] = standings([track], trials=1, trial_names={"acct_1"})
    board = Leaderboard(
        source=f"backtest s-{run_id}", start=DAYS[0], end=DAYS[-1], sessions=N, trials=1, bootstrap="b",
        standings=(row,), curves=(curve,),
    )  # fmt: skip
    return SweepRunFinished(
        run_id=run_id, backtest=f"s-{run_id}", label=f"overrides={run_id}", axes={}, start=DAYS[0], end=DAYS[-1],
        attempt=1, trial_accounts=["acct_1"], leaderboard=board.model_dump(mode="json"),
    )  # fmt: skip


def test_a_run_dropped_from_the_file_still_counts_in_the_dispersion_of_the_trials_sharpe_ratios() -> None:
    """A file narrowed to its winner after the results were seen: N still counted the dropped runs (3), but the
    variance of the Sharpe ratios was taken over the rows left alone, so the winner's DSR moved with what was dropped
    (here it rose: the dropped runs were the spread), though the same three configurations were compared."""
    runs = {"a": _run("a", 0.002, 0.004), "b": _run("b", -0.003, 0.002), "c": _run("c", 0.0005, 0.01)}
    whole = sweep_leaderboard("s", ["a", "b", "c"], 3, runs)
    narrowed = sweep_leaderboard("s", ["a"], 3, runs, earlier=["b", "c"])
    [row] = narrowed.rows
    kept = next(r for r in whole.rows if r.backtest == "s-a")
    assert row.standing.dsr is not None
    assert row.standing.dsr == kept.standing.dsr
    assert "and of 2 runs an earlier version of its file finished (no longer in it)" in narrowed.notes[0]
