"""`llmtrade report`: the leaderboard and every recorded week as one self-contained HTML file."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from llmtrade.commands.context import Reads, container, echo_json, state
from llmtrade.commands.options import Backtest, Json, LiveBooks
from llmtrade.console import Output
from llmtrade.errors import UsageError


def report(
    ctx: typer.Context,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The HTML file to write (replaced atomically if it exists); - for standard output."
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
    from llmtrade.app.report import STDOUT, write_report  # lazy: see package docstring
    from llmtrade.commands.render.report import print_written

    if sum((backtest is not None, live, sweep is not None)) > 1:
        raise UsageError("--backtest, --live and --sweep name different books: give one of them")
    if sweep is not None:
        from llmtrade.sweep.report import write_sweep_report

        written = write_sweep_report(state(ctx).settings, sweep, output)
    else:
        written = write_report(container(ctx), backtest=backtest, output=output)
    # `-o -`, `-o /dev/stdout`: the page is this command's output, so what it says about the page goes to stderr.
    elsewhere = sys.stderr if output == STDOUT or _is_stdout(output) else None
    if as_json and elsewhere is not None:
        print(written.model_dump_json(indent=2), file=elsewhere)
    elif as_json:
        echo_json(written)
    else:
        print_written(Output(stream=elsewhere), written)


def _is_stdout(path: Path) -> bool:
    """Whether `path` is the file this process's stdout writes to (`/dev/stdout`, `/proc/self/fd/1`, the file a
    shell redirected stdout to)."""
    try:
        named, out = os.stat(path), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError):  # no such file, or a stdout without a descriptor (a test runner's)
        return False
    return (named.st_dev, named.st_ino) == (out.st_dev, out.st_ino)


def register(app: typer.Typer) -> None:
    app.command(cls=Reads)(report)
