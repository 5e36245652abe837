"""The `report` command's line: which file was written and what it covers."""

from __future__ import annotations

from llmtrade.app.evaluation_results import ReportWritten
from llmtrade.commands.render.common import counted
from llmtrade.console import Output


def print_written(out: Output, written: ReportWritten) -> None:
    weeks = counted(written.weeks, "week")
    if written.runs is not None:  # a sweep's page: its runs' weeks, each run's own
        weeks = f"{counted(written.runs, 'run')} ({weeks} in all)"
    covers = f"{weeks}, {counted(written.accounts, 'account')}"
    where = "the page to standard output" if written.path == "-" else written.path
    out.line(f"wrote {where} ({written.bytes:,} bytes): {covers}")
