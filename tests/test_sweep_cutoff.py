"""A sweep's leaderboard ranks each run on its weeks after its models' knowledge cutoff: a run whose weeks are partly or
wholly on or before it (its own leaderboard splits them, app/cutoff_periods.py) is named, with the weeks it is ranked
on or that it has none (sweep/board.py; the figures: tests/test_sweep_after_cutoff.py)."""

from __future__ import annotations

from llmtrade.analytics.records import Leaderboard, Period
from llmtrade.domain.sweeps import SweepRunFinished
from llmtrade.sweep.board import sweep_leaderboard
from tests.test_sweep_dsr_dispersion import DAYS, _run


def _with(run: SweepRunFinished, *, periods: bool = False, notes: tuple[str, ...] = ()) -> SweepRunFinished:
    """`run` whose stored leaderboard is split at a knowledge cutoff (`periods`) or carries `notes`."""
    board = Leaderboard.model_validate(run.leaderboard)
    split = ()
    if periods:
        label = "before knowledge cutoff 2026-01-13 (pm_1 (x/m)): the models may have read this future"
        split = (
            Period(label=label, start=DAYS[0], end=DAYS[8], standings=board.standings),
            Period(
                label="after knowledge cutoff 2026-01-13 (pm_1 (x/m))",
                start=DAYS[8],
                end=DAYS[-1],
                standings=board.standings,
            ),
        )
    board = board.model_copy(update={"periods": split, "notes": notes})
    return run.model_copy(update={"leaderboard": board.model_dump(mode="json")})


def test_runs_holding_weeks_the_models_may_have_read_are_named() -> None:
    """Three configurations: one split at its models' cutoff, one wholly before it, one wholly after. The sweep's rows
    were each run's whole range, so the first two ranked weeks their models may have read about in training with the
    rest; now the first is ranked on its weeks after the cutoff, the second has no evidence, and the note says so."""
    before = (
        "every week is on or before the latest knowledge cutoff (2026-06-30, pm_1 (x/m)): the models may have read "
        "this future in training, so these results are not evidence of skill",
    )
    runs = {
        "a": _with(_run("a", 0.002, 0.004), periods=True),
        "b": _with(_run("b", -0.003, 0.002), notes=before),
        "c": _with(_run("c", 0.0005, 0.01)),
    }
    board = sweep_leaderboard("s", ["a", "b", "c"], 3, runs)
    [note] = [n for n in board.notes if "knowledge cutoff" in n]
    assert note.startswith("the table ranks each run on its weeks after its models' knowledge cutoff, the evidence")
    assert "1 of the 3 runs is split at it" in note and f"overrides=a (from {DAYS[8]})" in note
    assert "1 run is wholly on or before its models' knowledge cutoff, no evidence, ranked last: overrides=b" in note
    assert "overrides=c" not in note
    assert "leaderboard --backtest RUN" in note
    clean = sweep_leaderboard("s", ["c"], 1, runs)
    assert not any("knowledge cutoff" in n for n in clean.notes)
