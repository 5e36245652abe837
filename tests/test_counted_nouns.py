"""Each count a weekly reader is shown takes its noun's number: one week, one daily return, one call.

`leaderboard --backtest ON --versus OFF` over one week said "1 paired weeks"; the leaderboard's own note "1 daily
returns"; `backtest sweep` of one run "the PM and chairman accounts of all 1 runs of the sweep" and, resumed, "all 1
weeks done before"; `status`, `trace` and a run's footer "cost unknown for 1 calls", status "1 failed calls' billed
tokens". Pure: the notes and renderers are fed one of each.
"""

from __future__ import annotations

from datetime import date

import pytest

from llmtrade.analytics.paired import pairing
from llmtrade.analytics.records import Curve, Interval, Leaderboard, Standing
from llmtrade.app.board_notes import undecided_note
from llmtrade.app.results import Usage, UsageSum
from llmtrade.commands.render.common import footer
from llmtrade.commands.render.status import _billed
from llmtrade.commands.sweep import _run_row
from llmtrade.console import Output
from llmtrade.market.calendar import TradingCalendar
from llmtrade.sweep.board import _trials_note
from llmtrade.sweep.results import SweepRun

# The start's close, then one New York week (Wednesday to Tuesday) of 5 sessions.
WEEK = tuple(TradingCalendar().sessions_between(date(2026, 2, 3), date(2026, 2, 10)))


def _board(source: str) -> Leaderboard:
    equity = tuple(100.0 + i for i in range(len(WEEK)))
    curve = Curve(name="acct_1", kind="account", sessions=WEEK, equity=equity, gross_exposure=(0.0,) * len(WEEK))
    return Leaderboard(
        source=source, start=WEEK[0], end=WEEK[-1], sessions=len(WEEK) - 1, trials=1, bootstrap="test", standings=(),
        curves=(curve,),
    )  # fmt: skip


def test_one_paired_week_is_said_in_the_singular() -> None:
    assert len(WEEK) == 6
    notes = pairing(_board("backtest on"), _board("backtest off")).notes
    assert "1 paired week: no weekly interval under 8" in notes, notes


def test_one_daily_return_is_said_in_the_singular() -> None:
    blank = Interval(estimate=None, low=None, high=None, level=0.95)
    row = Standing.model_validate(
        {
            "name": "acct_1", "kind": "account", "sessions": 1, "weeks": 0.2, "total_return": 0.0, "cagr": None,
            "volatility": None, "sharpe": blank, "sortino": None, "max_drawdown": 0.0, "max_drawdown_sessions": 0,
            "calmar": None, "trades": 0, "hit_rate": None, "turnover": None, "avg_gross_exposure": 0.0,
            "costs_usd": 0.0, "excess_vs_flat": blank, "excess_vs_spy": blank, "psr": None, "dsr": None,
            "weeks_needed": None, "weeks_more": None,
        }
    )  # fmt: skip
    note = undecided_note([row])
    assert note is not None and "yet: 1 daily return (0.2 weeks of 5 sessions)," in note, note


def test_a_sweep_of_one_run_and_one_week_is_said_in_the_singular() -> None:
    assert _trials_note(5, 1, 1, 0).startswith("trials = 5: the PM and chairman accounts of the sweep's one run;")
    assert "all 2 runs of the sweep" in _trials_note(10, 2, 2, 0)
    resumed = SweepRun(run_id="a", backtest="s-a", label="x", status="finished", attempts=1, resumed_weeks=1, weeks=1)
    assert _run_row(resumed)[2] == "finished (all 1 week done before: its result recorded now)"


def test_one_call_of_unknown_cost_is_said_in_the_singular(capsys: pytest.CaptureFixture[str]) -> None:
    usage = Usage(calls=3, prompt_tokens=10, completion_tokens=5, cost_usd=0.01, unpriced_calls=1)
    footer(Output(), usage, duration_ms=10.0, run_id="r")
    assert "cost: $0.0100 (cost unknown for 1 call)" in capsys.readouterr().out.splitlines()
    summed = UsageSum(calls=3, prompt_tokens=1, completion_tokens=1, cost_usd=0.0, failed_calls=1, unknown_cost_calls=1)
    assert _billed(summed) == "; with 1 failed call's billed tokens in the cost; cost unknown for 1 call"
    two = summed.model_copy(update={"failed_calls": 2, "unknown_cost_calls": 2})
    assert _billed(two) == "; with 2 failed calls' billed tokens in the cost; cost unknown for 2 calls"
