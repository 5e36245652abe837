"""`llmtrade backtest list` and `llmtrade backtest delete NAME`: see app/backtest_books.py."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from llmtrade.commands.context import Reads, echo_json, state
from llmtrade.commands.options import Json
from llmtrade.console import Output
from llmtrade.errors import UsageError


def backtest_list(ctx: typer.Context, as_json: Json = False) -> None:
    """Every backtest on the database server (sweeps' runs among them): where each stands, its range, events and size
    on disk."""
    from llmtrade.app.backtest_books import list_backtests  # lazy: see package docstring
    from llmtrade.commands.render.backtest_books import print_backtest_list

    listed = list_backtests(state(ctx).settings)
    if as_json:
        echo_json(listed)
    else:
        print_backtest_list(Output(), listed)


def backtest_delete(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The backtest's name, as `backtest list` shows it (with --sweep: a sweep's).")
    ],
    sweep: Annotated[
        bool, typer.Option("--sweep", help="NAME is a sweep's: delete its record and every run's books.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete without asking (needed when not run at a terminal).")
    ] = False,
    as_json: Json = False,
) -> None:
    """Drop a backtest's database (its books, record, memory and caches) and its folder under LLMTRADE_HOME/backtests,
    or with --sweep a sweep's record and its runs' books; recorded in the live books. Refused while it runs or another
    session reads it (exit 75)."""
    from llmtrade.commands.render import backtest_books as render  # lazy: see package docstring

    root = state(ctx)

    def asked(question: str) -> bool:
        if yes:
            return True
        if not _at_terminal():
            # Never a prompt nobody answers (cron, a pipe): it would read end-of-file as no, or hang. Asked once the
            # name was found and may go: a name that names none (or a running one) is told so, not to add --yes.
            what = "sweep" if sweep else "backtest"
            raise UsageError(
                f"{what} delete {name}: not at a terminal, nothing can confirm it; give --yes to delete it"
            )
        return _confirmed(question)

    if sweep:
        from llmtrade.app.sweep_books import delete_sweep

        gone = delete_sweep(
            root.settings,
            name,
            confirm=lambda record, runs: asked(render.what_sweep_goes(record, runs)),
            clock=root.clock(),
        )
        if as_json:
            echo_json(gone)
        else:
            render.print_sweep_deletion(Output(), gone)
        return
    from llmtrade.app.backtest_books import delete_backtest

    deleted = delete_backtest(
        root.settings, name, confirm=lambda held: asked(render.what_goes(held)), clock=root.clock()
    )
    if as_json:
        echo_json(deleted)
    else:
        render.print_deletion(Output(), deleted)


def _at_terminal() -> bool:
    return sys.stdin.isatty()


def _confirmed(question: str) -> bool:
    """Whether the user answers `question` y (or yes). Not typer.confirm: it turned end-of-file (Ctrl-D) and Ctrl-C
    alike into click's Abort, "Aborted." and exit 1, where an answer other than y keeps the books (exit 2) and Ctrl-C
    stops a command with exit 130, as the CLI says it (found checking the README at a terminal)."""
    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    answer = sys.stdin.readline()  # Ctrl-C raises KeyboardInterrupt here: the CLI's own stop, exit 130
    if not answer:  # end of input: no answer given, so nothing confirmed; the prompt's line ended for the next one
        sys.stderr.write("\n")
    return answer.strip().lower() in {"y", "yes"}


def register(group: typer.Typer) -> None:
    group.command("list", cls=Reads)(backtest_list)
    group.command("delete")(backtest_delete)
