"""A leaderboard row over a span that begins at or below 0 equity (a knowledge-cutoff period, or a late account's
span, that begins after a short on a rising price wiped the account out): no figure that divides by its first close
or takes a power of its growth is defined. Each is None (null in --json, n/a in the tables and the report), and a
note says why (pure: hand-made curves; the report from tests/test_report_html.py's pieces)."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

from llmtrade.analytics import curves
from llmtrade.analytics.records import Curve, CurveKind, Leaderboard, Period
from llmtrade.analytics.standings import standings
from llmtrade.app.board_notes import missing_figure_notes
from llmtrade.commands.render.leaderboard import print_leaderboard
from llmtrade.console import Output
from llmtrade.report.render import render_report
from tests.test_report_html import report

N = 61  # 60 daily returns: 30 of them in each half


def _track(name: str, equity: list[float], kind: CurveKind = "account") -> curves.Track:
    days = tuple(date(2025, 1, 6) + timedelta(days=i) for i in range(len(equity)))
    exposure = tuple(0.0 if kind == "baseline" else 1.0 for _ in equity)
    curve = Curve(name=name, kind=kind, sessions=days, equity=tuple(equity), gross_exposure=exposure)
    zeros = (0,) * len(equity)
    money = (0.0,) * len(equity)
    return curves.Track(
        curve=curve, trades=zeros, wins=zeros, costs_usd=money, traded_usd=money, bought_usd=money, sold_usd=money
    )


def _books() -> list[curves.Track]:
    # acct_1 short 100 shares of a stock that rises from 50 to 150 over 30 sessions: its 10,000 of equity (cash 15,000
    # less the shares' value) goes to 0 at the 30th close, below it as the price rises on, and the price falls back a
    # little after the 40th.
    price = [50.0 + 100.0 * i / 30 for i in range(41)] + [183.0 - 0.5 * i for i in range(1, N - 40)]
    short = [15_000.0 - 100.0 * p for p in price]
    assert short[0] == 10_000.0 and short[30] <= 0 < short[29]
    spy = [400.0 * (1 + 0.001 * i + (0.002 if i % 3 else -0.002)) for i in range(N)]
    return [
        _track("FLAT", [10_000.0] * N, "baseline"),
        _track("SPY", spy, "baseline"),
        _track("acct_1", short),
        _track("acct_2", [10_000.0 * (1 + 0.0005 * i + (0.003 if i % 4 else -0.004)) for i in range(N)]),
    ]


def test_a_period_that_begins_at_no_equity_shows_no_return_no_growth_and_says_why() -> None:
    tracks = _books()
    split = 30  # the period after it begins at acct_1's close at 0 (below 0 with a short still open)
    after = standings(
        [t.between(split, N - 1, by_opening=True) for t in tracks], trials=2, trial_names={"acct_1", "acct_2"}
    )
    row = {s.name: s for s in after}["acct_1"]
    assert row.total_return is None and row.cagr is None and row.calmar is None
    assert row.sharpe.estimate is None and row.excess_vs_flat.estimate is None and row.excess_vs_spy.estimate is None
    assert row.psr is None and row.dsr is None and row.weeks_needed is None and row.weeks_more is None
    assert row.max_drawdown == 0.0  # no fall is defined from a peak of nothing
    other = {s.name: s for s in after}["acct_2"]
    assert other.total_return is not None and other.cagr is not None  # a row that began above 0 keeps its figures

    [note] = [n for n in missing_figure_notes(after) if "total return" in n]
    assert note.startswith("total return, CAGR and Calmar are n/a for acct_1: its span begins at a close at or below 0")
    assert "a return over nothing is undefined" in note and "null in --json" in note

    whole = standings(tracks, trials=2, trial_names={"acct_1", "acct_2"})
    assert not [n for n in missing_figure_notes(whole) if "total return" in n]  # began with its cash: a return
    assert {s.name: s for s in whole}["acct_1"].total_return is not None

    board = Leaderboard(
        source="backtest short",
        start=tracks[0].curve.sessions[0],
        end=tracks[0].curve.sessions[-1],
        sessions=N - 1,
        trials=2,
        bootstrap="test",
        standings=whole,
        periods=(
            Period(
                label="after", start=tracks[0].curve.sessions[split], end=tracks[0].curve.sessions[-1], standings=after
            ),
        ),
        curves=tuple(t.curve for t in tracks),
        notes=tuple(f"after: {n}" for n in missing_figure_notes(after)),
    )
    dumped = json.loads(board.model_dump_json())
    [shown] = [s for s in dumped["periods"][0]["standings"] if s["name"] == "acct_1"]
    assert shown["total_return"] is None and shown["cagr"] is None and shown["calmar"] is None
    schema = Leaderboard.model_json_schema()["$defs"]["Standing"]["properties"]
    for field in ("total_return", "cagr", "calmar"):
        assert "at or below 0" in schema[field]["description"], field

    text = io.StringIO()
    print_leaderboard(Output(stream=text, force_plain=True), board)
    lines = text.getvalue().splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("# after, ") and "returns and risk" in line)
    header = lines[head + 1].split("\t")
    row_line = next(line for line in lines[head + 2 :] if line.startswith("acct_1\t"))
    cells = dict(zip(header, row_line.split("\t"), strict=True))
    assert (cells["total"], cells["CAGR"], cells["Calmar"]) == ("n/a", "n/a", "n/a")
    assert f"note: after: {note}" in lines

    html = render_report(report(), board)
    period_table = html.split("<h3>after (")[1].split("</table>")[0]
    [tr] = [tr for tr in period_table.split("<tr") if "<td>acct_1</td>" in tr]
    assert tr.count(">n/a<") >= 3
    assert note in html
