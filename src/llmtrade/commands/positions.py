"""What llmtrade manages at the brokers: list, adopt a position made by hand, release one, settle one whose prices
ended."""

from __future__ import annotations

from typing import Annotated

import typer

from llmtrade.commands.context import Reads, container, echo_json
from llmtrade.commands.options import Json, Offline
from llmtrade.console import Output

positions_app = typer.Typer(
    help="Positions llmtrade manages; one made by hand at the broker is left alone unless adopted.",
    no_args_is_help=True,
)

AccountArg = Annotated[str, typer.Argument(help="Account id, e.g. acct_3.")]
SymbolArg = Annotated[str, typer.Argument(help="Symbol, e.g. GLD.")]


@positions_app.command("list", cls=Reads)
def list_positions(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Argument(help="Account id; all accounts when left out.")] = None,
    offline: Offline = False,
    as_json: Json = False,
) -> None:
    """Each account's managed positions, what its broker holds, and how they differ now. Writes nothing."""
    from llmtrade.app import positions  # lazy: see package docstring
    from llmtrade.commands.render.positions import print_managed

    found = positions.listing(container(ctx, offline=offline), account)
    if as_json:
        echo_json(found)
    else:
        print_managed(Output(), found)


@positions_app.command("adopt")
def adopt(ctx: typer.Context, account: AccountArg, symbol: SymbolArg, as_json: Json = False) -> None:
    """Hand llmtrade the shares of SYMBOL at ACCOUNT's broker that it did not open: it may trade them now."""
    from llmtrade.app import positions  # lazy: see package docstring
    from llmtrade.app.command_refusals import refusals_recorded

    app = container(ctx, by_hand=True)
    with refusals_recorded(app, "positions adopt", {"account": account, "symbol": symbol}):
        change = positions.adopt(app, account, symbol)
    if as_json:
        echo_json(change)
    else:
        Output().line(f"{account}: adopted {change.qty:+d} {change.symbol}; llmtrade manages {change.managed_qty:+d}")


@positions_app.command("release")
def release(ctx: typer.Context, account: AccountArg, symbol: SymbolArg, as_json: Json = False) -> None:
    """Take SYMBOL in ACCOUNT back from llmtrade: it will not trade those shares again."""
    from llmtrade.app import positions  # lazy: see package docstring
    from llmtrade.app.command_refusals import refusals_recorded

    app = container(ctx, by_hand=True)
    with refusals_recorded(app, "positions release", {"account": account, "symbol": symbol}):
        change = positions.release(app, account, symbol)
    if as_json:
        echo_json(change)
    else:
        Output().line(f"{account}: released {change.qty:+d} {change.symbol}; llmtrade manages none of it now")


@positions_app.command("settle")
def settle(
    ctx: typer.Context,
    account: AccountArg,
    symbol: SymbolArg,
    price: Annotated[
        float | None,
        typer.Option("--price", help="Settle at this price (e.g. a cash-out) instead of the symbol's last close."),
    ] = None,
    confirm_price: Annotated[
        bool,
        typer.Option("--confirm-price", help="Settle at --price though it is over 3x the last close or under a third."),
    ] = False,
    as_json: Json = False,
) -> None:
    """Close ACCOUNT's SYMBOL, whose prices ended (delisted, a CSV file no longer written), at its last close or
    --price: paper broker only; at Alpaca sell it there. A rerun sends nothing again."""
    from llmtrade.app import settle_ended  # lazy: see package docstring
    from llmtrade.app.command_refusals import refusals_recorded

    app = container(ctx, by_hand=True)
    given = {"account": account, "symbol": symbol, "price": price, "confirm_price": confirm_price or None}
    with refusals_recorded(app, "positions settle", given):
        done = settle_ended.settle(app, account, symbol, price, confirm_price=confirm_price)
    if as_json:
        echo_json(done)
    else:
        what = "settled earlier" if done.earlier else "settled"
        source = "the price given" if done.given else f"its last close ({done.last_day})"
        Output().line(
            f"{account}: {what} {done.qty:+d} {done.symbol} at {done.price:.4f} ({source}, after slippage), "
            f"order {done.client_order_id}"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(positions_app, name="positions")
