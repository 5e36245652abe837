"""What `backtest sweep` says of runs it did not run now: one an earlier invocation finished read 'resumed' with 0
attempts, as if picked up and not tried (the table now says 'done earlier', and --json 'done_earlier'); and a sweep
whose every run failed said 'trials = 10: the PM and chairman accounts of all 2 runs of the sweep' above an empty
table, as if they had been ranked."""

from __future__ import annotations

import pytest

from llmtrade.commands.sweep import print_sweep
from llmtrade.console import Output
from llmtrade.sweep.board import sweep_leaderboard
from llmtrade.sweep.results import SweepResult, SweepRun


def _result(runs: list[SweepRun]) -> SweepResult:
    failed = sum(r.status == "failed" for r in runs)
    board = sweep_leaderboard("s", [r.run_id for r in runs], 10, {}, **({"failed": failed} if failed else {}))
    return SweepResult(
        name="s", database="llmtrade_sw_s", executor="serial", workers=1, runs=runs, finished=len(runs) - failed,
        failed=failed, leaderboard=board, seconds=1.0,
    )  # fmt: skip


def test_a_run_finished_by_an_earlier_sweep_is_said_done_earlier(capsys: pytest.CaptureFixture[str]) -> None:
    earlier = SweepRun(run_id="a", backtest="s-a", label="memory=on", status="done_earlier", attempts=0)
    now = SweepRun(run_id="b", backtest="s-b", label="memory=off", status="finished", attempts=1, seconds=2.5)
    print_sweep(Output(), _result([earlier, now]))
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in capsys.readouterr().out.splitlines()}
    assert rows["s-a"] == ["memory=on", "done earlier", "", ""]
    assert rows["s-b"] == ["memory=off", "finished", "1", "2.5"]
    # --json says the same as the table: 'resumed' (kept before for scripts) read as a run picked up now.
    assert earlier.model_dump()["status"] == "done_earlier"
    schema = SweepRun.model_json_schema()["properties"]["status"]
    assert schema["enum"] == ["finished", "done_earlier", "failed"], schema


def test_a_sweep_whose_every_run_failed_says_how_many_ran_and_failed() -> None:
    runs = [
        SweepRun(run_id=x, backtest=f"s-{x}", label=x, status="failed", attempts=1, error="MarketDataError: ...")
        for x in "ab"
    ]
    notes = _result(runs).leaderboard.notes
    assert notes[0] == (
        "0 of the 2 runs finished (2 failed): no row to rank (trials = 10: the PM and chairman accounts of all 2 runs "
        "of the sweep)"
    )
    assert not any(n.startswith("trials = ") for n in notes)
    some = sweep_leaderboard("s", ["a", "b", "c"], 15, {}, failed=1).notes[0]
    assert some.startswith("0 of the 3 runs finished (1 failed, 2 not run)")


def test_a_sweep_with_some_runs_failed_says_trials_count_them_too() -> None:
    from llmtrade.sweep.board import _trials_note

    assert _trials_note(15, 3, 2, 1) == (
        "trials = 15: the PM and chairman accounts of all 3 runs of the sweep, though only 2 finished (1 failed: a "
        "configuration tried counts all the same); the deflated Sharpe assumes the best of that many was picked"
    )
    assert _trials_note(15, 3, 3, 0).startswith("trials = 15: the PM and chairman accounts of all 3 runs of the sweep;")
