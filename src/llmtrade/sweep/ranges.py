"""A sweep's ranges checked before any run starts, as `llmtrade backtest` checks its own range, and where its prices
folder was named (its messages say so).

Each check was met by each run alone, after the sweep's database, its workers and the run's own database were made:
a range the CSV prices do not cover at all (`refuse_uncovered_ranges`), one on the synthetic market that reads a
session before it begins or not closed yet (`refuse_synthetic_ranges`), and what a backtest's start refuses of the
prices each run reads on its own config (`refuse_unread_prices`: a file missing, a bad row ...). Split from
sweep/driver.py, which runs the sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from llmtrade.app.backtest_benchmark import refuse_synthetic_ahead, synthetic_too_early
from llmtrade.app.backtest_inputs import range_weeks
from llmtrade.app.backtest_prices import refuse_uncovered, refuse_unread
from llmtrade.clock import SystemClock
from llmtrade.config.loader import LoadedConfig, file_label
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import LlmtradeError, UsageError
from llmtrade.exits import exit_code_of
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.synthetic import ORIGIN as SYNTHETIC_ORIGIN
from llmtrade.settings import Settings
from llmtrade.sweep.spec import RunPlan, SweepFile
from llmtrade.sweep.wording import for_sweep
from llmtrade.workflows.schedule import week_jobs


def prices_named_by(settings: Settings, loaded: LoadedConfig, csv: Path | None) -> str:
    """Where the sweep's prices folder was named, as its messages say it: the command's --csv, the variable, or the
    config's key in its file (a run's backtest is told it: sweep/work.py, BacktestSpec.csv_named_by)."""
    if csv is not None:
        return "--csv"
    if settings.market_csv_dir is not None:
        return settings.csv_dir_from
    return f"market_data.csv_dir in {file_label(loaded.source, 'assets.yaml')}"


def refuse_uncovered_ranges(
    settings: Settings, source: str, path: Path, sweep: SweepFile, plans: list[RunPlan], folder: Path, named_by: str
) -> None:
    """UsageError (exit 2) for a range of the sweep its price files do not cover at all, naming its key, its runs and
    the files' first and last day, as `llmtrade backtest` refuses it (app/backtest_prices.py `refuse_outside`):
    before any run starts. It failed each run alone, after the sweep's database, its workers and the run's own
    database were made. Asked once per range and per universe and schedule its runs read (an override may change
    either)."""

    def check(plan: RunPlan, given: tuple[date, date]) -> None:
        refuse_uncovered(settings, LoadedConfig(plan.config, source), folder, given, named_by=named_by)

    _per_read(path, sweep, plans, check, first_only=True)


def refuse_unread_prices(
    settings: Settings, source: str, path: Path, sweep: SweepFile, plans: list[RunPlan], folder: Path, named_by: str
) -> None:
    """UsageError (exit 2) for what `llmtrade backtest` refuses at its start about the prices each run reads, on its own
    config (app/backtest_prices.py `refuse_unread`: a universe symbol with no file in `folder`, a file unusable, a bad
    row, the benchmark ending or beginning inside the range ...), naming each range's key and the runs refused, with
    the backtest's message in the sweep's terms: before any run starts, or any database is made. Each run failed on it
    alone, retried or not ("4 of 4 runs failed"). A failure that is not bad input (a file out of reach for now) is left
    to the runs, which say it and retry it as ever. Asked once per range and per universe and schedule its runs read."""

    def check(plan: RunPlan, given: tuple[date, date]) -> None:
        try:
            refuse_unread(settings, LoadedConfig(plan.config, source), folder, given, named_by=named_by)
        except LlmtradeError as exc:
            if exit_code_of(exc) != 2:  # not bad input: the runs say it (and retry one temporary) as ever
                return
            raise UsageError(for_sweep(" ".join(str(exc).split()))) from None

    _per_read(path, sweep, plans, check, first_only=False)


def _per_read(
    path: Path,
    sweep: SweepFile,
    plans: list[RunPlan],
    check: Callable[[RunPlan, tuple[date, date]], None],
    *,
    first_only: bool,
) -> None:
    """`check` asked of one run of each range per universe and schedule its runs read (the same for the others), and
    its UsageError raised naming the range's key and the runs it refuses: "the runs range=..." when they are all the
    range's, else each run's label. `first_only`: the first refusal raised alone; else every one, joined."""
    refused: list[str] = []
    for n, span in enumerate(sweep.ranges):
        start, end = week_id_for(span.first), week_id_for(span.last)
        runs = [p for p in plans if (p.start, p.end) == (start, end)]
        groups: dict[tuple[str, str], list[RunPlan]] = {}
        for plan in runs:  # an override may change what a run reads: its universe, its schedule
            reads = (plan.config.assets.model_dump_json(), plan.config.schedule.model_dump_json())
            groups.setdefault(reads, []).append(plan)
        for group in groups.values():
            try:
                check(group[0], (span.first, span.last))
            except UsageError as exc:
                if len(group) == len(runs):
                    which = f"the runs range={start}..{end}"
                else:
                    which = f"the run{'s' if len(group) > 1 else ''} {'; '.join(p.label for p in group)}"
                said = f"sweep file {path}: key ranges.{n} ({which}): {exc}"
                if first_only:
                    raise UsageError(said) from None
                refused.append(said)
    if refused:
        raise UsageError("; ".join(refused))


def refuse_synthetic_ranges(path: Path, sweep: SweepFile, plans: list[RunPlan]) -> None:
    """UsageError (exit 2) for a range of a sweep on the synthetic market that reads a session before the market
    begins (`synthetic_too_early`: each run failed alone, exit 1, "no bars") or one not closed now, naming its key and
    the `from:` or `to:` whose weeks run, as `llmtrade backtest` refuses it (app/backtest_benchmark.py
    `refuse_synthetic_ahead`): before any run starts. Asked once per range and schedule."""
    calendar, now = TradingCalendar(), SystemClock().now()
    for n, span in enumerate(sweep.ranges):
        start, end = week_id_for(span.first), week_id_for(span.last)
        weeks = range_weeks(span.first, span.last, calendar, keys=("from:", "to:"))
        where = f"sweep file {path}: key ranges.{n} (the runs range={start}..{end}): "
        for schedule in {p.config.schedule.model_dump_json(): p.config.schedule for p in plans}.values():
            plan = {w: week_jobs(schedule, calendar, w) for w in weeks}
            early = synthetic_too_early(calendar, plan, (span.first, span.last), SYNTHETIC_ORIGIN)
            if early is not None:
                raise UsageError(for_sweep(f"{where}{' '.join(str(early).split())}"))
            refuse_synthetic_ahead(calendar, plan, now, where=where, key="to:")
