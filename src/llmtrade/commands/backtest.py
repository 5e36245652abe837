"""`llmtrade backtest`: replay weeks of history exactly as cron would, into a database of their own."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmtrade.commands.context import echo_json, say, state, warn
from llmtrade.commands.options import Json, Offline, Replay, given_path, parse_date
from llmtrade.console import Output, quiet, shown
from llmtrade.errors import UsageError
from llmtrade.paths import not_a_folder

if TYPE_CHECKING:
    from llmtrade.app.backtest_inputs import Progress
    from llmtrade.app.backtest_start import StartUp


def backtest(
    ctx: typer.Context,
    start: Annotated[str | None, typer.Option("--from", help="First week: any date in it (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last week: any date in it (YYYY-MM-DD).")] = None,
    name: Annotated[
        str,
        typer.Option(
            "--name", help="The backtest's name; its books are the database llmtrade_bt_NAME (default: default)."
        ),
    ] = "default",
    offline: Offline = False,
    replay: Replay = False,
    csv: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            parser=given_path,
            metavar="<path>",
            help="Folder of daily prices, one SYMBOL.csv each (default: market_data.csv_dir).",
        ),
    ] = None,
    fetch_history: Annotated[
        bool,
        typer.Option(
            "--fetch-history",
            help="Ask the live market data providers once, up front, and replay from the snapshot written to "
            "LLMTRADE_HOME/backtests/NAME/prices (reused on resume).",
        ),
    ] = False,
    live_misses: Annotated[
        float | None,
        typer.Option(
            "--live-misses",
            metavar="USD",
            help="With --replay: a cache miss asks the live model (and is cached), while the backtest's live "
            "calls cost at most USD in all.",
        ),
    ] = None,
    audit: Annotated[
        int, typer.Option("--audit", min=0, help="Look-ahead audit of N weeks spread over the range.")
    ] = 0,
    as_json: Json = False,
) -> None:
    """Every weekly run, checkpoint and postmortem of the range, as cron would run them, on paper books of its own.

    Rerunning a name with the same inputs resumes after the last finished week; other inputs are refused.
    `llmtrade backtest sweep SWEEP.yaml` runs many backtests: every combination of a sweep file's axes."""
    if ctx.invoked_subcommand is not None:
        return  # `backtest sweep`: the group's own options are not used
    if start is None or end is None:
        # Which one is missing, and what the other was given (a trial's --from alone was told of both).
        absent = [o for o, v in (("--from", start), ("--to", end)) if v is None]
        missing = f"{' and '.join(absent)} {'are' if len(absent) > 1 else 'is'}"
        given = f" (given {'--from ' + start if start else '--to ' + str(end)})" if start or end else ""
        raise UsageError(
            f"backtest needs --from and --to: {missing} missing{given}; any date of the first and last week, "
            "YYYY-MM-DD (or `llmtrade backtest sweep SWEEP.yaml`)"
        )
    from llmtrade.app.backtest_start import StartUp  # first: a stop in the imports and the config load is said

    starting = StartUp(name)
    with starting.noted():
        _run(ctx, starting, name, start, end, offline, replay, csv, fetch_history, live_misses, audit, as_json)


def _run(
    ctx: typer.Context,
    starting: StartUp,
    name: str,
    start: str,
    end: str,
    offline: bool,
    replay: bool,
    csv: Path | None,
    fetch_history: bool,
    live_misses: float | None,
    audit: int,
    as_json: bool,
) -> None:
    from llmtrade.analytics.draws import import_pending
    from llmtrade.app.backtest import BacktestSpec  # lazy: see package docstring
    from llmtrade.app.backtest import backtest as run
    from llmtrade.app.sweep_member import refuse_sweep_run
    from llmtrade.commands.render.backtest import print_backtest

    first, last = parse_date(start, "--from"), parse_date(end, "--to")
    assert first is not None and last is not None
    # A dollar ceiling, said as `positions settle --price` says a price: `inf` was taken as one ("at most $inf in all":
    # live calls paid without limit) and `nan` was told it "should be greater than or equal to 0".
    if live_misses is not None and not (math.isfinite(live_misses) and live_misses >= 0):
        raise UsageError(f"--live-misses must be a finite number of US dollars, 0 or more, not {live_misses:g}")
    if csv is not None and not csv.is_dir():
        raise UsageError(f"--csv {csv}: {not_a_folder(csv)}")
    root = state(ctx)
    refuse_sweep_run(root.settings, name)
    spec = BacktestSpec(
        name=name,
        first=first,
        last=last,
        offline=offline,
        replay=replay,
        csv=csv,
        audit=audit,
        fetch_history=fetch_history,
        live_misses_usd=live_misses,
    )
    with _progress(quiet=as_json or quiet()) as (report, note, warning):
        # The command runs one backtest in its process: its leaderboard's draws are made apart (app/backtest.py), unless
        # arch is imported here already (a program running the command in its own process, a test session): a worker's
        # spawn and import then cost a core 1.2 s to save nothing (the `leaderboard` and `report` commands' rule).
        result = run(
            root.settings,
            root.config(csv_given=csv is not None or fetch_history),
            root.config_dir,
            spec,
            say=note,
            warn=warning,
            progress=report,
            draws_apart=import_pending(),
            start=starting,
        )
    if as_json:
        echo_json(result)
    else:
        print_backtest(Output(), result)


def _calls(calls: int, rules: int) -> str:
    """The progress bar's count: model calls (live or replayed), and the offline rules' answers apart (no model's)."""
    return f"{calls} model calls" + (f", {rules} offline rules answers" if rules else "")


@contextmanager
def _progress(
    *, quiet: bool
) -> Iterator[tuple[Callable[[Progress], None] | None, Callable[[str], None], Callable[[str], None]]]:
    """A progress bar on stderr (weeks, ETA, model calls) when it is a terminal and neither --json nor --quiet is
    on; the jobs' messages and warnings print above it. Otherwise no bar, and messages go to stderr as for any
    command: --json keeps stdout for the result, not the messages from the user (a discovery that failed, answers
    fetched live)."""
    import sys

    if quiet or not sys.stderr.isatty():
        yield None, say, warn
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    bar = Progress(
        TextColumn("backtest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("weeks"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[calls]}  {task.fields[week]}"),
        console=console,
        transient=False,
    )
    task = bar.add_task("weeks", total=None, calls=_calls(0, 0), week="")

    def report(step: Progress) -> None:
        calls = _calls(step.calls, step.rules_answers)
        bar.update(task, total=step.weeks, completed=step.weeks_done, calls=calls, week=str(step.week_id or ""))

    def above(text: str) -> None:
        # An error it says may quote a model: printed as text, as Output and print_error print it (console.shown).
        console.print(shown(text), markup=False, highlight=False)

    with bar:
        yield report, above, above


def register(app: typer.Typer) -> None:
    from llmtrade.commands import backtest_books, sweep

    group = typer.Typer(invoke_without_command=True, no_args_is_help=False)
    group.callback()(backtest)
    sweep.register(group)
    backtest_books.register(group)
    app.add_typer(group, name="backtest")
