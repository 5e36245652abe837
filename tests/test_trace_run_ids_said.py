"""`llmtrade trace` with no run id: its help says where a run's id is found.

A reader's Monday trial typed `llmtrade trace` to see the week's weekly run: click's "Missing argument 'run_id'" sent
it to `trace --help`, which gave an example id and nothing of where ids are: `status`'s table shows none. The help now
names `llmtrade events --type RunStarted` (every run, its id in the stream column) and `status --json` (each
command's last run)."""

from __future__ import annotations

from typer.testing import CliRunner

from llmtrade.cli import app


def test_trace_help_says_where_the_run_ids_are() -> None:
    shown = CliRunner().invoke(app, ["trace", "--help"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "llmtrade events --type RunStarted" in text
    assert "status --json" in text
