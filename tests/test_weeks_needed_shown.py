"""Weeks needed past any useful time are said so, not printed as a number of millions.

Found by a new user: the leaderboard's "min weeks" read 10601018 for an account whose Sharpe ratio was about 0 (the
minimum track record length grows as 1 / Sharpe^2). Tables, the report and the board's note now show "> 5200" (100
years) past `WEEKS_BEYOND`; --json keeps the computed number, and its schema says what it means."""

from __future__ import annotations

import html as html_text
import io
import json
import re

from typer.testing import CliRunner

from llmtrade.analytics.records import WEEKS_BEYOND, Interval, weeks_shown
from llmtrade.app.board_notes import undecided_note
from llmtrade.cli import app
from llmtrade.commands.render.leaderboard import print_leaderboard
from llmtrade.console import Output
from llmtrade.report.render import render_report
from tests.test_report_html import leaderboard, report

FOREVER = 10_601_018.4  # the user's, at a Sharpe ratio of about 0.001


def _board():
    board = leaderboard()
    near_zero = board.standings[0].model_copy(
        update={
            "sharpe": Interval(estimate=0.001, low=-1.5, high=1.5),
            "weeks_needed": FOREVER,
            "weeks_more": FOREVER - 7.8,
        }
    )
    return board.model_copy(update={"standings": (near_zero, board.standings[1]), "periods": ()})


def test_weeks_past_any_useful_time_show_as_over_the_bound_in_the_terminal_and_the_report() -> None:
    assert WEEKS_BEYOND == 5200
    assert [weeks_shown(v) for v in (None, 140.0, 5200.0, 5200.4, FOREVER)] == [
        "n/a",
        "140",
        "5200",
        "> 5200",
        "> 5200",
    ]
    assert weeks_shown(132.2) == "133"
    board = _board()
    out = io.StringIO()
    print_leaderboard(Output(stream=out, force_plain=True), board)
    rows = [line.split("\t") for line in out.getvalue().splitlines() if "\t" in line]
    header = next(r for r in rows if r[-2:] == ["min weeks", "weeks more"])
    evidence = [r for r in rows[rows.index(header) + 1 :] if r[0] in ("acct_1", "acct_2")][:2]
    assert [r[-2:] for r in evidence] == [["> 5200", "> 5200"], ["140", "133"]], out.getvalue()
    assert "10601018" not in out.getvalue()
    page = render_report(report(), board)
    row = re.search(r'<tr class="account"><td>acct_1</td>.*?</tr>', page)
    assert row is not None and html_text.unescape(row.group(0)).endswith(
        '<td class="n">> 5200</td><td class="n">> 5200</td></tr>'
    )
    assert "10601018" not in page


def test_the_note_says_the_wait_is_past_any_useful_time() -> None:
    note = undecided_note(_board().standings[:1])  # the nearest (the only) account: Sharpe 0.001
    assert note is not None and "acct_1 (Sharpe 0.00) needs more than 5200 more (100 years" in note, note
    assert "10601" not in note


def test_the_json_keeps_the_number_and_its_schema_says_what_it_means() -> None:
    assert _board().standings[0].model_dump()["weeks_needed"] == FOREVER
    schema = json.loads(CliRunner().invoke(app, ["schema", "leaderboard"]).stdout)
    fields = schema["$defs"]["Standing"]["properties"]
    assert "any value over 5200 (100 years) means not in any useful time" in fields["weeks_needed"]["description"]
    assert '"> 5200"' in fields["weeks_more"]["description"]


def test_the_minimum_weeks_round_up_as_the_weeks_more_do_so_the_two_agree_with_the_weeks_there_are() -> None:
    # 25 daily returns (5.0 weeks) and a minimum track record of 5.4 weeks: the table read "min weeks 5" beside "weeks
    # more 1" on a row of 5.0 weeks, as if five weeks were both enough and not. A minimum is met only by the whole week
    # at or past it: both round up, and min weeks is never under the weeks there are plus the weeks more.
    board = leaderboard()
    row = board.standings[0].model_copy(update={"weeks": 5.0, "sessions": 25, "weeks_needed": 5.4, "weeks_more": 0.4})
    board = board.model_copy(update={"standings": (row,), "periods": ()})
    out = io.StringIO()
    print_leaderboard(Output(stream=out, force_plain=True), board)
    rows = [line.split("\t") for line in out.getvalue().splitlines() if "\t" in line]
    header = next(r for r in rows if r[-2:] == ["min weeks", "weeks more"])
    shown = next(r for r in rows[rows.index(header) + 1 :] if r[0] == row.name)
    assert shown[-2:] == ["6", "1"], out.getvalue()
    page = html_text.unescape(render_report(report(), board))
    assert re.search(rf'<td>{row.name}</td>.*<td class="n">6</td><td class="n">1</td></tr>', page), page


def test_the_schema_states_what_the_weeks_needed_assume() -> None:
    # Bailey & Lopez de Prado's minimum track record length (after Mertens 2002) takes the daily returns as independent
    # and the Sharpe ratio, skewness and kurtosis so far as the true ones: the number is an estimate of an estimate,
    # and the bootstrap intervals beside it allow for runs of days (blocks) where it does not. Said nowhere but here.
    schema = json.loads(CliRunner().invoke(app, ["schema", "leaderboard"]).stdout)
    said = schema["$defs"]["Standing"]["properties"]["weeks_needed"]["description"]
    assert "independent" in said and "skewness and kurtosis so far" in said, said
