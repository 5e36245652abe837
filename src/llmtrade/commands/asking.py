"""Commands that ask rather than trade: council, research, market bars and snapshot."""

from __future__ import annotations

from typing import Annotated

import typer

from llmtrade.commands.context import container, echo_json
from llmtrade.commands.options import Json, JsonLines, Offline, Replay, Week, parse_date
from llmtrade.console import Output

market_app = typer.Typer(help="Prices and indicators as the committee would see them.", no_args_is_help=True)


def council(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="The question for the council.")],
    offline: Offline = False,
    replay: Replay = False,
    as_json: Json = False,
) -> None:
    """Ask every council model, have them rank each other anonymously, and let the chairman answer."""
    from llmtrade.app import inquiries  # lazy: see package docstring
    from llmtrade.commands.render.asking import print_council

    result = inquiries.council(container(ctx, offline=offline, replay=replay), query)
    if as_json:
        echo_json(result)
    else:
        print_council(Output(), result)


def research(
    ctx: typer.Context, week: Week = None, offline: Offline = False, replay: Replay = False, as_json: Json = False
) -> None:
    """Build (or show, when already built) the week's market snapshot and research packs."""
    from llmtrade.app import inquiries  # lazy: see package docstring
    from llmtrade.commands.render.asking import print_research

    result = inquiries.research(container(ctx, offline=offline, replay=replay), week=parse_date(week))
    if as_json:
        echo_json(result.packs)
    else:
        print_research(Output(), result)


@market_app.command("bars")
def market_bars(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="A symbol of the universe, e.g. SPY.")],
    days: Annotated[int, typer.Option("--days", min=1, max=3000, help="Sessions to show.")] = 10,
    offline: Offline = False,
    as_json: JsonLines = False,
) -> None:
    """The last daily bars of SYMBOL complete as of now, marked with their source."""
    from llmtrade.app import inquiries  # lazy: see package docstring
    from llmtrade.commands.render.asking import print_bars

    view = inquiries.market_bars(container(ctx, offline=offline, by_hand=True), symbol, days)
    if as_json:
        for bar in view.bars:
            typer.echo(bar.model_dump_json())
    else:
        print_bars(Output(), view)


@market_app.command("snapshot")
def market_snapshot(ctx: typer.Context, offline: Offline = False, as_json: Json = False) -> None:
    """Indicators for the whole universe as of now: what the committee would see."""
    from llmtrade.app import inquiries  # lazy: see package docstring
    from llmtrade.commands.render.asking import print_snapshot

    result = inquiries.market_snapshot(container(ctx, offline=offline, by_hand=True))
    if as_json:
        echo_json(result)
    else:
        print_snapshot(Output(), result.root)


def register(app: typer.Typer) -> None:
    app.command()(council)
    app.add_typer(market_app, name="market")
    app.command()(research)
