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
    if written.runs == 0:  # nothing to compare: said, with why ("0 runs (0 weeks in all), 0 accounts")
        covers = f"no run compared: none of the sweep's runs has finished ({written.uncompared or 'none recorded'})"
    if written.nothing_yet is not None:  # books with no trading yet: the page says so, and so does this line
        covers = f"nothing to rank yet. {written.nothing_yet}"
    where = "the page to standard output" if written.path == "-" else written.path
    out.line(f"wrote {where} ({written.bytes:,} bytes): {covers}")
