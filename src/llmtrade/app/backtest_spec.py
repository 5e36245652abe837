"""What `llmtrade backtest` (app/backtest.py) is asked to run: its name, range, models' mode and prices' source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class BacktestSpec:
    """What to replay: `first`..`last` (any dates; their weeks' Wednesdays are used), how models answer
    (`offline` rules or the `replay` cache, whose misses ask the live models under `live_misses_usd`),
    where prices come from (`csv`, else a snapshot of the live providers' history when `fetch_history`,
    else the config's csv_dir, else the synthetic market), and how many weeks to audit for look-ahead."""

    name: str
    first: date
    last: date
    offline: bool
    replay: bool
    csv: Path | None = None
    audit: int = 0
    # Ask the live providers once, up front, and replay from the snapshot written (app/backtest_history.py).
    fetch_history: bool = False
    # With `replay`: a cache miss asks the live model, at most this many USD in all (app/backtest_answers.py).
    live_misses_usd: float | None = None
    # With `replay`: copy the live books' replay cache in first (a sweep seeds its runs itself).
    answers_from_live: bool = True
    # What named `csv`, as a message about the folder says it (a sweep's run: where the sweep's folder was named).
    csv_named_by: str = "--csv"
