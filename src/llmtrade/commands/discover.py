"""`llmtrade discover` (run every picker now) and `llmtrade watchlist show|add|remove`."""

from __future__ import annotations

from typing import Annotated

import typer

from llmtrade.commands.context import Reads, container, echo_json, recorder
from llmtrade.commands.options import Backtest, Json, Offline, Replay
from llmtrade.console import Output

watchlist_app = typer.Typer(help="The discovered watchlist and its manual includes and excludes.", no_args_is_help=True)
Symbol = Annotated[str, typer.Argument(help="A discovery candidate's ticker, e.g. XLE.")]


discover_app = typer.Typer(
    help="Score every discovery candidate with every picker now, and set the watchlist (`discover performance`: "
    "how each picker's suggestions turned out).",
    invoke_without_command=True,
)


@discover_app.callback()
def discover(ctx: typer.Context, offline: Offline = False, replay: Replay = False, as_json: Json = False) -> None:
    """Score every discovery candidate with every picker now, and set the watchlist."""
    if ctx.invoked_subcommand is not None:
        return
    from llmtrade.app import discovery  # lazy: see package docstring
    from llmtrade.commands.render.discover import print_discover

    result = discovery.discover(recorder(ctx, "discover", offline=offline, replay=replay))
    if as_json:
        echo_json(result)
    else:
        print_discover(Output(), result)


@discover_app.command("performance", cls=Reads)
def performance(
    ctx: typer.Context,
    horizon: Annotated[int, typer.Option("--horizon", help="Forward-return horizon in sessions: 1, 5 or 20.")] = 5,
    backtest: Backtest = None,
    as_json: Json = False,
) -> None:
    """Per picker and the ensemble: rank IC with its HAC t, hit rate vs SPY, top minus median, turnover,
    coverage and LLM cost per week, against the random and momentum controls (`--backtest NAME`: in that
    backtest's books)."""
    from llmtrade.app import discovery  # lazy: see package docstring
    from llmtrade.commands.render.discover import print_performance

    result = discovery.performance(container(ctx), horizon=horizon, backtest=backtest)
    echo_json(result) if as_json else print_performance(Output(), result)


@watchlist_app.command("show", cls=Reads)
def watchlist_show(ctx: typer.Context, as_json: Json = False) -> None:
    """The watchlist the committee sees in watchlist mode, and the manual edits in force."""
    from llmtrade.app import discovery  # lazy: see package docstring
    from llmtrade.commands.render.discover import print_watchlist

    result = discovery.watchlist_show(container(ctx))
    echo_json(result) if as_json else print_watchlist(Output(), result)


@watchlist_app.command("add")
def watchlist_add(ctx: typer.Context, symbol: Symbol, as_json: Json = False) -> None:
    """Always keep SYMBOL on the watchlist (undoes an earlier remove)."""
    from llmtrade.app import discovery  # lazy: see package docstring
    from llmtrade.commands.render.discover import print_watchlist

    result = discovery.watchlist_edit(recorder(ctx, "watchlist add"), symbol, "include")
    echo_json(result) if as_json else print_watchlist(Output(), result)


@watchlist_app.command("remove")
def watchlist_remove(ctx: typer.Context, symbol: Symbol, as_json: Json = False) -> None:
    """Never put SYMBOL on the watchlist (undoes an earlier add)."""
    from llmtrade.app import discovery  # lazy: see package docstring
    from llmtrade.commands.render.discover import print_watchlist

    result = discovery.watchlist_edit(recorder(ctx, "watchlist remove"), symbol, "exclude")
    echo_json(result) if as_json else print_watchlist(Output(), result)


def register(app: typer.Typer) -> None:
    app.add_typer(discover_app, name="discover")
    app.add_typer(watchlist_app, name="watchlist")
