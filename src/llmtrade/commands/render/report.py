"""The `report` command's line: which file was written and what it covers."""

from __future__ import annotations

from llmtrade.app.evaluation_results import ReportWritten
from llmtrade.commands.render.common import counted
from llmtrade.console import Output


def print_written(out: Output, written: ReportWritten) -> None:
    covers = f"{counted(written.weeks, 'week')}, {counted(written.accounts, 'account')}"
    out.line(f"wrote {written.path} ({written.bytes:,} bytes): {covers}")
