"""What `backtest sweep` says of runs it did not run now: one an earlier invocation finished read 'resumed' with 0
attempts, as if picked up and not tried."""

from __future__ import annotations

import pytest

from llmtrade.commands.sweep import print_sweep
from llmtrade.console import Output
from llmtrade.sweep.board import sweep_leaderboard
from llmtrade.sweep.results import SweepResult, SweepRun


def _result(runs: list[SweepRun]) -> SweepResult:
    failed = sum(r.status == "failed" for r in runs)
    board = sweep_leaderboard("s", [r.run_id for r in runs], 10, {})
    return SweepResult(
        name="s", database="llmtrade_sw_s", executor="serial", workers=1, runs=runs, finished=len(runs) - failed,
        failed=failed, leaderboard=board, seconds=1.0,
    )  # fmt: skip


def test_a_run_finished_by_an_earlier_sweep_is_said_done_earlier(capsys: pytest.CaptureFixture[str]) -> None:
    earlier = SweepRun(run_id="a", backtest="s-a", label="memory=on", status="resumed", attempts=0)
    now = SweepRun(run_id="b", backtest="s-b", label="memory=off", status="finished", attempts=1, seconds=2.5)
    print_sweep(Output(), _result([earlier, now]))
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in capsys.readouterr().out.splitlines()}
    assert rows["s-a"] == ["memory=on", "done earlier", "", ""]
    assert rows["s-b"] == ["memory=off", "finished", "1", "2.5"]
    assert earlier.model_dump()["status"] == "resumed"  # --json keeps its value
