"""`llmtrade backtest sweep SWEEP.yaml`: every combination of a sweep file's axes as one backtest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmtrade.commands.context import echo_json, state, warn
from llmtrade.commands.options import Json, given_path
from llmtrade.console import Output, quiet
from llmtrade.domain.wording import named_first
from llmtrade.errors import LlmtradeError, OperationalError, TemporaryError, UsageError
from llmtrade.exits import TEMPORARY
from llmtrade.paths import not_a_folder

if TYPE_CHECKING:
    from llmtrade.analytics.records import Standing
    from llmtrade.settings import Settings
    from llmtrade.sweep.board import SweepRow
    from llmtrade.sweep.driver import SweepProgress, SweepResult
    from llmtrade.sweep.results import SweepRun


def sweep(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="The sweep file (YAML): name, ranges and the axes to combine.", parser=given_path, metavar="FILE"
        ),
    ],
    executor: Annotated[
        str, typer.Option("--executor", help="Where runs execute: serial (this process), local (processes), ray.")
    ] = "serial",
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="Ray: the cluster to join (auto inside `ray job submit`; local: a new Ray of the sweep's own).",
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=0, help="Runs at once for local and ray (default: one per CPU).")
    ] = 0,
    csv: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            parser=given_path,
            metavar="<path>",
            help="Folder of daily prices, one SYMBOL.csv each (default: market_data.csv_dir, else the synthetic "
            "market).",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Run every combination of the sweep file's axes (config overrides, model sets, memory, seeds, date
    ranges) as one backtest each; rerunning the file skips every run already finished.

    When a run still failed after its retries (the other runs are kept) it exits with a summary, as `llmtrade
    backtest` would for the runs' failures: 2 when each was bad input, 75 when one was temporary (run the sweep
    again), 1 when one was operational."""
    from llmtrade.domain.wording import counted  # lazy: see package docstring
    from llmtrade.sweep.driver import SweepOptions, run_sweep

    if file.is_dir():  # said "no such file" of a folder that is there
        held = sorted(p.name for p in file.glob("*.y*ml") if p.is_file())
        inside = f": it holds {named_first(held, 5)}" if held else ""
        raise UsageError(f"sweep file {file}: is a folder, not a sweep file; give the YAML file itself{inside}")
    if not file.is_file():
        raise UsageError(f"sweep file {file}: no such file")
    if csv is not None and not csv.is_dir():
        raise UsageError(f"--csv {csv}: {not_a_folder(csv)}")
    root = state(ctx)
    options = SweepOptions(executor=executor, workers=workers, address=address, csv=csv)
    with _progress(quiet=as_json or quiet()) as report:
        loaded = root.config(csv_given=csv is not None)
        _prompt_drift(root.settings, root.config_dir)
        result = run_sweep(root.settings, loaded, root.config_dir, file, options, progress=report)
    if as_json:
        echo_json(result)
    else:
        print_sweep(Output(), result)
    if result.failed:
        failed = [r for r in result.runs if r.status == "failed"]
        if any(r.permanent for r in failed):
            retried = ""
        elif all(r.attempts <= 1 for r in failed):  # failures a retry may mend, each tried once: `retries: 0`
            retried = ", not retried (retries: 0)"
        else:
            retried = " after their retries"
        error, kind = _failure(failed)
        raise error(
            f"sweep {result.name}: {len(failed)} of {counted(len(result.runs), 'run')} failed{retried} "
            f"({'; '.join(f'{r.label}: {r.error}' for r in failed)}); {kind}; {_advice(failed)}: "
            "finished runs are not run again"
        )


def _prompt_drift(settings: Settings, config_dir: Path | None) -> None:
    """What the prompt overrides leave out of their packaged templates' prompts (prompts/drift.py), said once here:
    the runs render the prompts where nothing they say reaches the terminal (workers, `say` quiet), and said by each
    it would be said once per run. A broken override is left to the runs, which refuse it as before."""
    from llmtrade.app.session import prompts_dir  # lazy: see package docstring
    from llmtrade.config_errors import ConfigError
    from llmtrade.prompts.renderer import PromptRenderer

    try:
        drift = PromptRenderer(prompts_dir(settings, config_dir)).drift
    except ConfigError:
        return
    for note in drift:
        warn(note)


def _failure(failed: list[SweepRun]) -> tuple[type[LlmtradeError], str]:
    """The error the sweep exits with and what the summary says of it, from its failed runs' kinds, as `llmtrade
    backtest` would exit for each: 1 if any failed operationally (a bug too: someone has to look), else 75 if any
    failed on something temporary (rerun the sweep), else 2 (bad input: usage errors only). It exited 1 whatever they
    were, so a scheduler could not tell a sweep to fix from one to run again."""
    codes = [r.exit_code if r.exit_code is not None else 1 for r in failed]
    if any(code not in (2, TEMPORARY) for code in codes):
        return OperationalError, "exit 1 (an operational failure)"
    if TEMPORARY in codes:
        return TemporaryError, "exit 75 (a temporary failure: a rerun may succeed)"
    return UsageError, "exit 2 (bad input only: usage errors)"


def _advice(failed: list[SweepRun]) -> str:
    """What to do about the failed runs: a run that failed on an error every attempt meets alike (a bad file, a range
    outside the prices: SweepRun.permanent) is to be mended first, never retried as it stands; the others, retried."""
    permanent = [r.label for r in failed if r.permanent]
    if not permanent:
        return "rerun the sweep to retry them"
    if len(permanent) == len(failed):
        if len(failed) == 1:
            return "it fails alike on every attempt (no retry mends it): fix what its error names, then rerun the sweep"
        return (
            "they fail alike on every attempt (no retry mends them): fix what their errors name, then rerun the sweep"
        )
    one = len(permanent) == 1
    return (
        f"{'; '.join(permanent)} {'fails' if one else 'fail'} alike on every attempt (no retry mends "
        f"{'it' if one else 'them'}): fix what {'its error names' if one else 'their errors name'}; then rerun the "
        "sweep, which retries the others too"
    )


def print_sweep(out: Output, result: SweepResult) -> None:
    from llmtrade.commands.render.common import counted  # lazy: see package docstring

    board = result.leaderboard
    workers = counted(result.workers, "worker")
    out.heading(f"sweep {result.name}: {counted(len(result.runs), 'run')} on {result.executor} ({workers})")
    out.pairs(
        [
            ("database", result.database),
            ("runs", f"{result.finished} finished, {result.failed} failed"),
            ("trials", board.trials),
            ("time", f"{result.seconds:.1f} s"),
        ]
    )
    out.table(
        "runs",
        ["backtest", "axes", "status", "attempts", "seconds"],
        [_run_row(r) for r in result.runs],
    )
    # Ranked on each row's evidence (sweep/board_cutoff.py): when a run is split at its models' knowledge cutoff or
    # wholly before it, the table says which weeks each row is over, and the whole ranges follow in a table apart.
    split = any(row.evidence_span != "whole_range" for row in board.rows)
    over = " over the weeks after each run's models' knowledge cutoff" if split else ""
    out.table(
        f"leaderboard (best Sharpe first{over}; DSR deflated for every trial of the sweep)",
        _COLUMNS[:2] + (["weeks ranked"] if split else []) + _COLUMNS[2:],
        [(row.label, row.account, *([_span(row)] if split else []), *_figures(row.evidence)) for row in board.rows],
    )
    if split:
        out.table(
            "whole ranges, including weeks the models may have read about in training (no evidence of skill; unranked)",
            _COLUMNS,
            [(r.label, r.account, *_figures(r.standing)) for r in board.rows if r.evidence_span != "whole_range"],
        )
    for note in board.notes:
        out.line(note)


# DESIGN.md: every comparison of accounts carries its trade count, exposure and costs: a Sharpe ratio earned on 2% of
# the account, or by trading it away in slippage, read as well as any here without them.
_COLUMNS = [
    "run",
    "account",
    "return",
    "Sharpe",
    "95% interval",
    "DSR",
    "max DD",
    "trades",
    "turnover/yr",
    "avg gross",
    "commissions",
    "slippage~",
]


def _span(row: SweepRow) -> str:
    """Which weeks a ranked row is over."""
    if row.evidence_span == "after_cutoff":
        return f"after {row.evidence_from}"
    if row.evidence is None:
        return "none: every week on or before its models' knowledge cutoff"
    return "whole range"


def _figures(standing: Standing | None) -> tuple[object, ...]:
    """A row's figures; all n/a for a row of no evidence."""
    from llmtrade.commands.render.common import drawdown, money, pct, share  # lazy: see package docstring
    from llmtrade.domain.wording import bounds

    if standing is None:
        return ("n/a",) * (len(_COLUMNS) - 2)
    return (
        pct(standing.total_return, 2),
        _num(standing.sharpe.estimate),
        bounds(standing.sharpe.low, standing.sharpe.high, _num),
        share(standing.dsr),
        drawdown(standing.max_drawdown),
        standing.trades,
        _num(standing.turnover),
        share(standing.avg_gross_exposure),
        money(standing.costs_usd),
        money(standing.slippage_usd),
    )


def _run_row(run: SweepRun) -> tuple[object, ...]:
    """A run's row; one an earlier invocation finished (--json status "done_earlier") is said "done earlier", with no
    attempt or time of this invocation (it read 'resumed' and 0 attempts, as if picked up and not tried)."""
    from llmtrade.domain.wording import counted  # lazy: see package docstring

    if run.status == "done_earlier":
        return (run.backtest, run.label, "done earlier", "", "")
    status = run.status
    if run.resumed_weeks and run.resumed_weeks == run.weeks:  # its backtest ended before its result was recorded
        status = f"finished (all {counted(run.weeks, 'week')} done before: its result recorded now)"
    elif run.resumed_weeks:  # a run a stop had left part-way: said, not as if computed from its first week
        status = f"finished (resumed after {run.resumed_weeks} of {counted(run.weeks or 0, 'week')} done before)"
    return (run.backtest, run.label, status, run.attempts, run.seconds if run.seconds is not None else "")


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


@contextmanager
def _progress(*, quiet: bool) -> Iterator[Callable[[SweepProgress], None] | None]:
    """The whole sweep's progress on stderr when it is a terminal and --json is off: runs done, running,
    failed, ETA."""
    import sys

    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs  {task.fields[running]} running  {task.fields[failed]} failed  ETA {task.fields[eta]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    task = bar.add_task("runs", total=None, running=0, failed=0, eta="?")

    def report(step: SweepProgress) -> None:
        eta = "?" if step.eta_seconds is None else f"{step.eta_seconds:.0f} s"
        bar.update(task, total=step.runs, completed=step.done, running=step.running, failed=step.failed, eta=eta)

    with bar:
        yield report


def register(group: typer.Typer) -> None:
    group.command()(sweep)
