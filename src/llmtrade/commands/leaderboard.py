"""`llmtrade leaderboard`: every account and baseline with its statistics and their intervals."""

from __future__ import annotations

from typing import Annotated

import typer

from llmtrade.commands.context import Reads, container, echo_json
from llmtrade.commands.options import Backtest, Json, LiveBooks
from llmtrade.console import Output
from llmtrade.errors import UsageError

Versus = Annotated[
    str | None,
    typer.Option(
        "--versus",
        help="Pair every account with its twin in the backtest NAME, week by week: the weekly-return difference "
        "(these books minus NAME's) with a stationary-bootstrap interval, e.g. memory on versus memory off.",
    ),
]


def leaderboard(
    ctx: typer.Context, backtest: Backtest = None, live: LiveBooks = False, versus: Versus = None, as_json: Json = False
) -> None:
    """Rank every account against FLAT, SPY and an equal-weight universe: returns, risk, Sharpe with a
    bootstrap interval, costs, trades, and how many weeks are still needed to tell each from FLAT."""
    from llmtrade.app.leaderboard import leaderboard as build  # lazy: see package docstring
    from llmtrade.commands.render.leaderboard import print_leaderboard

    if backtest is not None and live:
        raise UsageError("--backtest and --live name different books: give one of them")
    result = build(container(ctx), backtest=backtest, versus=versus)
    if as_json:
        echo_json(result)
    else:
        print_leaderboard(Output(), result)


def register(app: typer.Typer) -> None:
    app.command(cls=Reads)(leaderboard)
