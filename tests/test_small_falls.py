"""A drawdown too small for the table's decimals is shown with the decimals that show it, never as none.

Found on a live history of one session: `leaderboard` showed acct_2 "max DD 0.0%" beside "DD sessions 1" (it fell
0.01% below its peak, the slippage it paid), and a three-week history acct_5 "0.0%" beside 7 sessions under its peak:
the two columns contradicted each other, and `status` and the report read the same fall as none. Now "-0.01%" and
"-0.04%" (the report's two decimals alike, "-0.003%" under them); no fall at all is still "0.0%", never "-0.0%".
"""

from __future__ import annotations

import io
from datetime import date

from llmtrade.analytics.records import Interval, Leaderboard, Standing
from llmtrade.commands.render.leaderboard import print_leaderboard
from llmtrade.console import Output
from llmtrade.report.render import drawdown as page_drawdown


def _row(name: str, fell: float, sessions: int) -> Standing:
    blank = Interval(estimate=None, low=None, high=None, level=0.95)
    return Standing.model_validate(
        {
            "name": name, "kind": "account", "sessions": 14, "weeks": 2.8, "total_return": 0.008, "cagr": None,
            "volatility": None, "sharpe": blank, "sortino": None, "max_drawdown": fell,
            "max_drawdown_sessions": sessions, "calmar": None, "trades": 2, "hit_rate": 0.5, "turnover": None,
            "avg_gross_exposure": 0.166, "costs_usd": 0.0, "excess_vs_flat": blank, "excess_vs_spy": blank,
            "psr": None, "dsr": None, "weeks_needed": None, "weeks_more": None, "slippage_usd": 50.52,
        }
    )  # fmt: skip


def test_a_fall_under_the_tables_decimals_is_shown_not_read_as_none() -> None:
    rows = (_row("acct_5", 0.000417, 7), _row("acct_2", 0.0000921, 1), _row("acct_6", 0.0, 0), _row("a", 0.1234, 9))
    board = Leaderboard(
        source="live", start=date(2026, 11, 10), end=date(2026, 12, 1), sessions=14, trials=5, bootstrap="b",
        standings=rows, curves=(),
    )  # fmt: skip
    text = io.StringIO()
    print_leaderboard(Output(stream=text, force_plain=True), board)
    lines = [line.split("\t") for line in text.getvalue().splitlines()]
    header = next(line for line in lines if line[:2] == ["name", "kind"])
    shown = {line[0]: dict(zip(header, line, strict=True)) for line in lines if len(line) == len(header)}
    assert (shown["acct_5"]["max DD"], shown["acct_5"]["DD sessions"]) == ("-0.04%", "7")
    assert (shown["acct_2"]["max DD"], shown["acct_2"]["DD sessions"]) == ("-0.01%", "1")
    assert (shown["acct_6"]["max DD"], shown["acct_6"]["DD sessions"]) == ("0.0%", "0")
    assert shown["a"]["max DD"] == "-12.3%"
    # The report's two decimals: the same rule one step finer.
    assert [page_drawdown(v) for v in (0.000417, 0.00003, 0.0, 0.1234)] == ["-0.04%", "-0.003%", "0.00%", "-12.34%"]
