"""The backtest's human report: its last line, the time taken."""

from __future__ import annotations

from datetime import date

import pytest

from llmtrade.analytics.records import Leaderboard
from llmtrade.app.evaluation_results import BacktestResult, BacktestTiming
from llmtrade.commands.render.backtest import print_backtest
from llmtrade.console import Output

W = date(2026, 1, 7)


def _time_line(timing: BacktestTiming, capsys: pytest.CaptureFixture[str]) -> str:
    board = Leaderboard(
        source="backtest b", start=W, end=W, sessions=0, trials=0, bootstrap="b", standings=(), curves=()
    )
    result = BacktestResult(
        name="b", database="llmtrade_bt_b", start=W, end=W, mode="offline", prices="synthetic", weeks=1,
        weeks_done_before=1, weeks_run=0, jobs={}, llm_calls=0, degraded_runs=0, leaderboard=board, audit=[],
        timing=timing,
    )  # fmt: skip
    print_backtest(Output(), result)
    return capsys.readouterr().out.splitlines()[-1]


def test_a_backtest_that_ran_nothing_now_ends_its_time_line_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    """A finished backtest run again ran no job: its time line read 'time: 0.4 s; ', a separator before nothing."""
    assert _time_line(BacktestTiming(seconds=0.42, seconds_per_week=None, by_kind={}), capsys) == "time: 0.4 s"
    ran = BacktestTiming(seconds=3.0, seconds_per_week=1.5, by_kind={"checkpoint": 1.0, "weekly": 2.0})
    assert _time_line(ran, capsys) == "time: 3.0 s, 1.50 s per week; checkpoint 1.0 s, weekly 2.0 s"
