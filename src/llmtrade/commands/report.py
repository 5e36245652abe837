"""`llmtrade report`: the leaderboard and every recorded week as one self-contained HTML file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from llmtrade.commands.context import Reads, container, echo_json, state
from llmtrade.commands.options import Backtest, Json, LiveBooks, given_path
from llmtrade.console import Output, json_shown
from llmtrade.errors import UsageError
from llmtrade.readers import reader_gone


def report(
    ctx: typer.Context,
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            parser=given_path,
            metavar="<path>",
            help="The HTML file to write (replaced atomically if it exists); - for standard output.",
        ),
    ],
    backtest: Backtest = None,
    live: LiveBooks = False,
    sweep: Annotated[
        str | None, typer.Option("--sweep", help="Compare the runs of the sweep NAME (`llmtrade backtest sweep`).")
    ] = None,
    as_json: Json = False,
) -> None:
    """Write one self-contained HTML file: equity curves against FLAT, SPY and equal weight, drawdowns, the
    leaderboard with its intervals, every week's decisions linked to their event ids, and cost per week."""
    from llmtrade.app.report import is_stdout, write_report  # lazy: see package docstring
    from llmtrade.commands.render.report import print_written

    if sum((backtest is not None, live, sweep is not None)) > 1:
        raise UsageError("--backtest, --live and --sweep name different books: give one of them")
    if sweep is not None:
        from llmtrade.sweep.report import write_sweep_report

        written = write_sweep_report(state(ctx).settings, sweep, output)
    else:
        written = write_report(container(ctx), backtest=backtest, output=output)
    # `-o -`, `-o /dev/stdout`: the page is this command's output, so what it says about the page goes to stderr.
    elsewhere = sys.stderr if is_stdout(output) else None
    if elsewhere is not None and reader_gone(sys.stdout):
        return  # its reader stopped reading (`| head -c 100`): nothing to say, as any command's output (readers.py)
    if as_json and elsewhere is not None:
        print(json_shown(written.model_dump_json(indent=2)), file=elsewhere)
    elif as_json:
        echo_json(written)
    else:
        print_written(Output(stream=elsewhere), written)


def register(app: typer.Typer) -> None:
    app.command(cls=Reads)(report)
