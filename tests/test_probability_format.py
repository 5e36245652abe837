"""A probabilistic or deflated Sharpe ratio is a probability, shown as one percentage wherever it is shown: the
terminal's leaderboard said 61.0% where the HTML report said 0.61, and a sweep's table and page said 0.33 for 33.0%."""

from __future__ import annotations

import io
from html import unescape

from llmtrade.commands.render.leaderboard import print_leaderboard
from llmtrade.commands.sweep import print_sweep
from llmtrade.console import Output
from llmtrade.report.render import render_report
from llmtrade.sweep import report as sweep_page
from llmtrade.sweep.board import SweepLeaderboard, SweepRow
from llmtrade.sweep.results import SweepResult
from tests.test_report_html import leaderboard, report, standing

PSR, DSR = "61.0%", "33.0%"  # test_report_html.standing's psr 0.61, dsr 0.33


def _board() -> SweepLeaderboard:
    row = SweepRow(backtest="sw_a", label="seed=7", account="acct_1", standing=standing("acct_1", 0.4))
    return SweepLeaderboard(name="demo", runs=1, finished=1, trials=2, rows=(row,), notes=())


def test_the_terminal_leaderboard_and_the_report_show_the_same_percentages() -> None:
    text = io.StringIO()
    print_leaderboard(Output(stream=text, force_plain=True), leaderboard())
    rows = [line for line in text.getvalue().splitlines() if line.startswith("acct_1\t")]  # a table each half
    assert any(f"\t{PSR}\t{DSR}\t" in row for row in rows), rows
    html = render_report(report(), leaderboard())
    cells = html[html.index('<tr class="account"><td>acct_1</td>') :].split("</tr>")[0]
    assert f'<td class="n">{PSR}</td><td class="n">{DSR}</td>' in cells


def test_a_sweeps_table_and_page_show_them_as_percentages_too() -> None:
    text = io.StringIO()
    result = SweepResult(
        name="demo", database="llmtrade_sw_demo", executor="local", workers=1, runs=[], finished=1, failed=0,
        leaderboard=_board(), seconds=1.0,
    )  # fmt: skip
    print_sweep(Output(stream=text, force_plain=True), result)
    row = next(line for line in text.getvalue().splitlines() if line.startswith("seed=7\t"))
    assert row.split("\t")[5] == DSR
    page = unescape(sweep_page.render(_board(), []))
    assert f"<td>{PSR}</td><td>{DSR}</td>" in page
