"""What an audit of the leaderboard's figures found a reader could not see or could misread: the zero risk-free rate
said only in code comments; `--versus` without trades, costs or exposure; CAGR, turnover and the excess a year
shown on one daily return (SPY CAGR +1198.9%) while Sharpe was hidden as noise; a weekly difference of -0.16 bp
printed "0.0% [0.0%, 0.0%]"; "vs FLAT/yr" described nowhere a reader looks. The leaderboard end to end on a real
PostgreSQL, offline (synthetic market, rules provider, paper brokers); the pairing and the table pure."""

from __future__ import annotations

import io
import itertools
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.analytics.curves import Track
from llmtrade.analytics.paired import pairing
from llmtrade.analytics.records import Curve, Interval, Leaderboard, PairedDifference, Pairing
from llmtrade.analytics.standings import standing
from llmtrade.cli import app
from llmtrade.commands.render.leaderboard import print_leaderboard
from llmtrade.console import Output
from llmtrade.market.calendar import TradingCalendar
from tests.test_leaderboard_command import ACCOUNTS, _at

runner = CliRunner()
ANNUALISED = ("cagr", "volatility", "turnover")


@pytest.fixture
def week(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A week run offline (the weekly run, a checkpoint, the postmortem): books of 5 daily returns."""
    _at(monkeypatch, "2026-01-07T08:00:00-05:00")
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    _at(monkeypatch, "2026-01-08T12:00:00-05:00")
    assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code == 0
    _at(monkeypatch, "2026-01-13T16:30:00-05:00")
    done = runner.invoke(app, ["postmortem", "--week", "2026-01-07"])
    assert done.exit_code == 0, done.output
    return cli_env["DATABASE_URL"]


def test_the_zero_risk_free_rate_and_what_the_excess_a_year_is_are_said_where_the_figures_are_read(
    week: str, tmp_path: Path
) -> None:
    board = json.loads(runner.invoke(app, ["leaderboard", "--json"]).stdout)
    [risk_free] = [n for n in board["notes"] if "risk-free rate of 0" in n]
    assert "mean over the standard deviation of daily returns (rf = 0)" in risk_free
    assert "like for like" in risk_free and "cash earns nothing" in risk_free
    [excess] = [n for n in board["notes"] if n.startswith("vs FLAT/yr and vs SPY/yr")]
    assert "arithmetic mean of the daily differences of returns x 252" in excess
    text = runner.invoke(app, ["leaderboard"]).stdout
    assert f"note: {risk_free}" in text and f"note: {excess}" in text

    schema = json.loads(runner.invoke(app, ["schema", "leaderboard"]).stdout)
    fields = schema["$defs"]["Standing"]["properties"]
    for field in ("sharpe", "sortino", "psr", "dsr", "weeks_needed"):
        assert "risk-free rate of 0" in fields[field]["description"], field
    for field in ("excess_vs_flat", "excess_vs_spy"):
        assert "arithmetic mean of the daily differences of returns, x 252" in fields[field]["description"], field

    out = tmp_path / "report.html"
    assert runner.invoke(app, ["report", "-o", str(out)]).exit_code == 0
    html = out.read_text()
    assert risk_free.replace("'", "&#39;") in html and "risk-free rate of 0" in html


def test_every_annualised_figure_is_hidden_under_twenty_returns_as_the_ratios_are(week: str, tmp_path: Path) -> None:
    board = json.loads(runner.invoke(app, ["leaderboard", "--json"]).stdout)
    assert board["sessions"] == 5
    for row in board["standings"]:
        assert row["sharpe"]["estimate"] is None and row["calmar"] is None  # as before: noise on 5 returns
        for field in ANNUALISED:
            assert row[field] is None, (row["name"], field, row[field])
        for field in ("excess_vs_flat", "excess_vs_spy"):
            assert row[field] == {"estimate": None, "low": None, "high": None, "level": 0.95}, (row["name"], field)
    rows = {s["name"]: s for s in board["standings"]}
    assert rows["SPY"]["total_return"] != 0.0  # what happened stays
    assert any(rows[a]["slippage_usd"] for a in ACCOUNTS)  # and what was paid
    [short] = [n for n in board["notes"] if n.startswith("Sharpe, Sortino and Calmar are n/a")]
    assert "CAGR, volatility, turnover a year, the excess over FLAT and SPY a year" in short
    assert not any(n.startswith("under a year") for n in board["notes"])  # no CAGR shown to extrapolate

    text = runner.invoke(app, ["leaderboard"]).stdout
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("name\tkind\tweeks"))
    columns = lines[head].split("\t")
    spy = next(line.split("\t") for line in lines[head:] if line.startswith("SPY\t"))
    assert spy[columns.index("CAGR")] == "n/a" and spy[columns.index("vol")] == "n/a"
    head = next(i for i, line in enumerate(lines) if line.startswith("name\ttrades"))
    columns = lines[head].split("\t")
    spy = next(line.split("\t") for line in lines[head:] if line.startswith("SPY\t"))
    for column in ("turnover/yr", "vs FLAT/yr [95%]", "vs SPY/yr [95%]"):
        assert spy[columns.index(column)] == "n/a", column


# Five New York weeks (Wednesday to Tuesday), a holiday among them: 24 daily returns.
SESSIONS = tuple(TradingCalendar().sessions_between(date(2026, 2, 3), date(2026, 3, 10)))


def _board(name: str, equity: list[float], exposure: float, trades: int, costs: float, traded: float) -> Leaderboard:
    n = len(equity)
    curve = Curve(
        name="acct_1",
        kind="account",
        sessions=SESSIONS,
        equity=tuple(equity),
        gross_exposure=(0.0, *([exposure] * (n - 1))),
    )
    track = Track(
        curve=curve,
        trades=(0,) * (n - 1) + (trades,),
        wins=(0,) * n,
        costs_usd=(0.0,) * (n - 1) + (costs,),
        traded_usd=(0.0,) * (n - 1) + (traded,),
        bought_usd=(0.0,) * (n - 1) + (traded / 2,),
        sold_usd=(0.0,) * (n - 1) + (traded / 2,),
        slippage_bps=5.0,
    )
    returns = [b / a - 1 for a, b in itertools.pairwise(equity)]
    row = standing(track, returns, flat=None, spy=None, trials=1, sharpe_variance=None)
    return Leaderboard(
        source=f"backtest {name}",
        start=SESSIONS[0],
        end=SESSIONS[-1],
        sessions=n - 1,
        trials=1,
        bootstrap="test",
        standings=(row,),
        curves=(curve,),
    )


def _cut(curve: Curve, points: int) -> Curve:
    return curve.model_copy(update={f: getattr(curve, f)[:points] for f in ("sessions", "equity", "gross_exposure")})


def test_versus_carries_each_books_trades_costs_and_exposure() -> None:
    n = len(SESSIONS)
    on = _board("on", [100_000.0 * 1.001**i for i in range(n)], 0.5, trades=7, costs=14.0, traded=200_000.0)
    off = _board("off", [100_000.0 * 1.0005**i for i in range(n)], 0.25, trades=3, costs=6.0, traded=80_000.0)
    paired = pairing(on, off)
    [diff] = paired.differences
    assert (diff.trades_on, diff.trades_off) == (7, 3)
    assert (diff.commissions_usd_on, diff.commissions_usd_off) == (14.0, 6.0)
    assert diff.slippage_usd_on == pytest.approx(100.0) and diff.slippage_usd_off == pytest.approx(40.0)
    assert diff.avg_gross_exposure_on == pytest.approx(0.5) and diff.avg_gross_exposure_off == pytest.approx(0.25)
    assert diff.daily.estimate is not None  # 24 daily returns: annualised, as a leaderboard row's would be
    short = pairing(*(b.model_copy(update={"curves": (_cut(b.curves[0], 6),)}) for b in (on, off)))
    assert short.differences[0].daily.estimate is None  # 5: no annualised figure, as a row of 5 has none
    # ... and a note says why (it was n/a with nothing to say so); none when there are enough.
    assert any(n.startswith("5 paired daily returns: no daily difference a year under 20") for n in short.notes)
    assert not any("paired daily return" in n for n in paired.notes)
    # The trades and costs are each book's row, over its whole range: the schema says so (not the paired sessions).
    fields = PairedDifference.model_json_schema()["properties"]
    for field in ("trades_on", "trades_off", "commissions_usd_on", "slippage_usd_off"):
        assert "whole range" in fields[field]["description"], field
    dumped = json.loads(on.model_copy(update={"paired": paired}).model_dump_json())["paired"]["differences"][0]
    assert {"trades_on", "trades_off", "commissions_usd_on", "slippage_usd_off", "avg_gross_exposure_on"} <= set(dumped)

    text = io.StringIO()
    print_leaderboard(Output(stream=text, force_plain=True), on.model_copy(update={"paired": paired}))
    lines = text.getvalue().splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("name\treturn\tversus"))
    row = dict(zip(lines[head].split("\t"), lines[head + 1].split("\t"), strict=True))
    assert row["trades (own range)"] == "7 / 3"  # labelled as what they are over: each book's whole range
    assert row["commissions (own range)"] == "14.00 / 6.00"
    assert row["slippage~ (own range)"] == "100.00 / 40.00"
    assert row["avg gross (paired)"] == "50.0% / 25.0%"


def test_a_small_weekly_difference_prints_its_sign_and_whether_its_interval_holds_zero() -> None:
    """The audit's books: -1.55e-5 a week [-1.76e-5, -1.36e-5], wholly below zero, printed "0.0% [0.0%, 0.0%]"."""
    diff = PairedDifference(
        name="acct_1",
        weeks=51,
        return_on=0.01,
        return_off=0.0108,
        weekly=Interval(estimate=-1.55e-5, low=-1.76e-5, high=-1.36e-5),
        daily=Interval(estimate=-3.1e-4, low=-3.5e-4, high=2.0e-5),
        weeks_better=12,
        weeks_worse=39,
        weeks_tied=0,
    )
    board = Leaderboard(
        source="backtest a",
        start=SESSIONS[0],
        end=SESSIONS[-1],
        sessions=len(SESSIONS) - 1,
        trials=1,
        bootstrap="test",
        standings=(),
        paired=Pairing(versus="backtest b", start=SESSIONS[0], end=SESSIONS[-1], weeks=4, differences=(diff,)),
    )
    text = io.StringIO()
    print_leaderboard(Output(stream=text, force_plain=True), board)
    lines = text.getvalue().splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("name\treturn\tversus"))
    row = dict(zip(lines[head].split("\t"), lines[head + 1].split("\t"), strict=True))
    assert row["weekly diff bp [95%]"] == "-0.15 [-0.18, -0.14]"  # basis points: below zero, the interval too
    assert row["daily diff/yr bp [95%]"] == "-3.10 [-3.50, +0.20]"  # an interval holding zero shows it
