"""A sweep's ranges checked before any run starts, as `llmtrade backtest` checks its own range, and where its prices
folder was named (its messages say so).

Each check was met by each run alone, after the sweep's database, its workers and the run's own database were made:
a range the CSV prices do not cover at all (`refuse_uncovered_ranges`), one on the synthetic market that reads a
session not closed yet (`refuse_ahead_ranges`). Split from sweep/driver.py, which runs the sweep.
"""

from __future__ import annotations

from pathlib import Path

from llmtrade.app.backtest_benchmark import refuse_synthetic_ahead
from llmtrade.app.backtest_inputs import range_weeks
from llmtrade.app.backtest_prices import refuse_uncovered
from llmtrade.clock import SystemClock
from llmtrade.config.loader import LoadedConfig, file_label
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import UsageError
from llmtrade.market.calendar import TradingCalendar
from llmtrade.settings import Settings
from llmtrade.sweep.spec import RunPlan, SweepFile
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
    for n, span in enumerate(sweep.ranges):
        start, end = week_id_for(span.first), week_id_for(span.last)
        runs = [p for p in plans if (p.start, p.end) == (start, end)]
        reads = {p.run_id: (p.config.assets.model_dump_json(), p.config.schedule.model_dump_json()) for p in runs}
        asked: set[tuple[str, str]] = set()
        for plan in runs:
            if reads[plan.run_id] in asked:
                continue
            asked.add(reads[plan.run_id])
            try:
                span_read = (span.first, span.last)
                refuse_uncovered(settings, LoadedConfig(plan.config, source), folder, span_read, named_by=named_by)
            except UsageError as exc:
                # The range's runs, or the one refused when the others read other files or days (an override's).
                alike = len(set(reads.values())) == 1
                which = f"the runs range={start}..{end}" if alike else f"the run {plan.label}"
                raise UsageError(f"sweep file {path}: key ranges.{n} ({which}): {exc}") from None


def refuse_ahead_ranges(path: Path, sweep: SweepFile, plans: list[RunPlan]) -> None:
    """UsageError (exit 2) for a range of a sweep on the synthetic market that reads a session not closed now, naming
    its key and the `--to` (`to:`) whose weeks read only closed sessions, as `llmtrade backtest` refuses it
    (app/backtest_benchmark.py `refuse_synthetic_ahead`): before any run starts. Asked once per range and schedule."""
    calendar, now = TradingCalendar(), SystemClock().now()
    for n, span in enumerate(sweep.ranges):
        start, end = week_id_for(span.first), week_id_for(span.last)
        weeks = range_weeks(span.first, span.last, calendar, keys=("from:", "to:"))
        where = f"sweep file {path}: key ranges.{n} (the runs range={start}..{end}): "
        for schedule in {p.config.schedule.model_dump_json(): p.config.schedule for p in plans}.values():
            plan = {w: week_jobs(schedule, calendar, w) for w in weeks}
            refuse_synthetic_ahead(calendar, plan, now, where=where, key="to:")
