"""A week's P/L read off the leaderboard's equity curve (the week's last close less the close before it) is the
postmortem's to the cent. A trial found one-cent differences: the books value an account in dollars and cents (the
paper broker's equity, AccountValued, the postmortem's start and end equity, whose difference is its week P/L), while
the curve was unrounded, and its cash was summed in another order than the broker's, so a close at a half cent could
round the other way."""

from __future__ import annotations

import json
from datetime import date, timedelta

from typer.testing import CliRunner

from llmtrade.analytics import curves
from llmtrade.cli import app as cli
from llmtrade.domain.ledger import fold
from llmtrade.domain.trading import Side
from tests.test_analytics_curves import CLOSES_AT, DAYS, TUE, _at, _fill
from tests.test_backtest import _unique

runner = CliRunner()


def test_the_curve_values_a_close_as_the_broker_does_to_the_cent() -> None:
    """Two fills in one session: the curve folded their change from 0 and added it to the cash before (100942.075,
    which rounds to .07), the broker folds them on from the cash (100942.07500000001, .08), then rounds to the cent."""
    fills = [
        _fill("b1", Side.BUY, 135, 173.234, _at(TUE, 10)).model_copy(update={"commission": 0.0}),
        _fill("b2", Side.BUY, 288, 197.079, _at(TUE, 10), symbol="ABC").model_copy(update={"commission": 0.0}),
    ]
    closes = {"XYZ": dict.fromkeys(DAYS, 168.095), "ABC": dict.fromkeys(DAYS, 202.759)}
    track = curves.account_track(
        "acct_1", fills, starting_cash=100_000.0, sessions=DAYS, closes_at=CLOSES_AT, closes=closes
    )
    ledger = fold(fills, 100_000.0)
    # The paper broker's equity (brokers/paper.py `_account`): the fold's cash plus each position at its mark.
    broker = ledger.cash + sum(p.qty * closes[s][TUE] for s, p in ledger.positions.items())
    assert track.curve.equity[1] == round(broker, 2) == 100_942.08


def test_each_weeks_pnl_on_the_leaderboards_curve_is_the_postmortems(cli_env: dict[str, str]) -> None:
    name = _unique()
    args = ["backtest", "--from", "2024-01-03", "--to", "2024-01-17", "--offline", "--name", name]
    assert runner.invoke(cli, args).exit_code == 0
    board = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json"])
    assert board.exit_code == 0, board.output
    shown = {c["name"]: dict(zip(c["sessions"], c["equity"], strict=True)) for c in json.loads(board.stdout)["curves"]}
    written = runner.invoke(cli, ["events", "--backtest", name, "--type", "PostmortemWritten", "--json"])
    postmortems = [json.loads(line)["payload"]["postmortem"] for line in written.stdout.splitlines()]
    assert len(postmortems) == 3 * 6
    for pm in postmortems:
        curve, week = shown[pm["account_id"]], date.fromisoformat(pm["week_id"])
        before = max(d for d in curve if date.fromisoformat(d) < week)
        last = max(d for d in curve if date.fromisoformat(d) <= week + timedelta(days=6))
        assert curve[before] == pm["start_equity"] and curve[last] == pm["end_equity"], (pm, curve[before], curve[last])
        assert round(curve[last] - curve[before], 2) == pm["week_pnl"], (pm["week_id"], pm["account_id"])
