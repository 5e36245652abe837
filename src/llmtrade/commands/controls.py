"""Where things stand and the hand controls: status, the kill switch, the breakers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from llmtrade.commands.context import Reads, container, echo_json, state
from llmtrade.commands.options import Json, Offline
from llmtrade.console import Output
from llmtrade.errors import MarketDataError, TemporaryError

if TYPE_CHECKING:
    from llmtrade.app.results import StatusResult

trading_app = typer.Typer(help="The global kill switch: status, disable, enable.", no_args_is_help=True)
breaker_app = typer.Typer(help="Per-account circuit breakers.", no_args_is_help=True)


def status(ctx: typer.Context, offline: Offline = False, as_json: Json = False) -> None:
    """Each account's equity, P/L, returns against FLAT and SPY, drawdown, hit rate, positions and breaker."""
    from llmtrade.app import queries  # lazy: see package docstring
    from llmtrade.commands.render.status import print_status

    result = queries.status(container(ctx, offline=offline))
    if as_json:
        echo_json(result)
    else:
        print_status(Output(), result)
    if result.prices_failed is not None:  # said first: a wait on top of it would not mend it
        # Here, not at the top: the market's modules load pydantic, which `llmtrade --help` must not (test_cli).
        from llmtrade.market.failures import PriceFilesMisconfigured

        failed = result.prices_failed
        error = PriceFilesMisconfigured if failed.exit_code == PriceFilesMisconfigured.exit_code else MarketDataError
        raise error(f"{_unpriced(result)}, so these figures are not the books': {failed.reason}")
    if result.prices_wait is not None:  # its warning said why: the exit says the figures are not the answer yet
        raise TemporaryError(f"{_unpriced(result)}: no price could be read now; run status again later")


def _unpriced(result: StatusResult) -> str:
    """What the missing prices leave out of status's figures: positions at cost, or only queued orders' fills."""
    if result.unpriced_orders:
        return f"the fill of llmtrade's order queued in {', '.join(result.unpriced_orders)} cannot be valued"
    return "positions valued at cost"


@trading_app.command("status", cls=Reads)
def trading_status(ctx: typer.Context, as_json: Json = False) -> None:
    """Whether orders may be placed (the global kill switch)."""
    from llmtrade.app.housekeeping import trading_status as kill_switch  # lazy: see package docstring

    found = kill_switch(container(ctx))
    if as_json:
        echo_json(found)
    else:
        Output().line("trading is enabled" if found.enabled else f"trading is DISABLED: {found.reason}")


@trading_app.command("disable")
def trading_disable(
    ctx: typer.Context, reason: Annotated[str, typer.Option(help="Why; recorded with the event.")] = "disabled by hand"
) -> None:
    """Stop all order placement, for every account, until `trading enable`."""
    from llmtrade.risk.controls import set_trading  # lazy: see package docstring

    with state(ctx).storage() as storage:
        set_trading(storage.events, False, reason)
    Output().line(f"trading disabled: {reason}")


@trading_app.command("enable")
def trading_enable(
    ctx: typer.Context, reason: Annotated[str, typer.Option(help="Why; recorded with the event.")] = "enabled by hand"
) -> None:
    """Allow order placement again."""
    from llmtrade.risk.controls import set_trading  # lazy: see package docstring

    with state(ctx).storage() as storage:
        set_trading(storage.events, True, reason)
    Output().line(f"trading enabled: {reason}")


@breaker_app.command("reset")
def breaker_reset(ctx: typer.Context, account: Annotated[str, typer.Argument(help="Account id, e.g. acct_3.")]) -> None:
    """Resume a halted account by hand (its drawdown peak restarts from its current equity)."""
    from llmtrade.app.breaker_reset import reset_breaker  # lazy: see package docstring

    reset = reset_breaker(container(ctx, by_hand=True), account)  # a person waits for it: reads bounded in all
    Output().line(f"{account}: breaker reset; trading resumes (peak equity now {reset.peak_equity:,.2f})")


def register(app: typer.Typer) -> None:
    app.command(cls=Reads)(status)
    app.add_typer(trading_app, name="trading")
    app.add_typer(breaker_app, name="breaker")
