"""The `llmtrade` command line: the root options and the command groups, registered here.

The commands live in `llmtrade.commands`, one module per family; this module only assembles
them. Start-up speed matters (cron, shell completion, `--help`), so nothing here or in the command
modules imports more than typer and the standard library at the top.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from llmtrade import __version__
from llmtrade.commands import (
    ask,
    asking,
    backtest,
    controls,
    discover,
    leaderboard,
    memory,
    positions,
    report,
    schedule,
    schema,
    setup,
    week,
)
from llmtrade.commands.context import State
from llmtrade.console import print_error
from llmtrade.exits import classify


class _Group(TyperGroup):
    """Turns every failure the table in exits.py knows (ours, the database's, a full disk) raised by any
    subcommand into a message and its exit code; anything else is a bug and keeps its traceback."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (TyperException, typer.Exit, typer.Abort):
            raise  # typer's own flow: --help, bad arguments, ctx.exit
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            print_error(failure.message)
            ctx.exit(failure.code)


app = typer.Typer(
    cls=_Group,
    name="llmtrade",
    help="Run a committee of LLM portfolio managers on paper accounts, with every step recorded.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmtrade {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Config folder (default: $LLMTRADE_CONFIG_DIR, else packaged defaults)."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    ctx.obj = State(config)


for group in (
    setup,
    asking,
    ask,
    week,
    controls,
    positions,
    schedule,
    schema,
    backtest,
    leaderboard,
    report,
    discover,
    memory,
):
    group.register(app)


def main() -> None:
    app()
