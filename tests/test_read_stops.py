"""A command that only reads, stopped by Ctrl-C or SIGTERM, says it stopped and changed nothing; a job that writes
still says what finished is stored and that the same command goes on (commands/context.py `Reads`, cli.py)."""

from __future__ import annotations

import signal
from collections.abc import Callable

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()

READ_TERMINATED = "error: terminated (SIGTERM); this command only reads: it stopped and changed nothing"
READ_INTERRUPTED = "error: interrupted (Ctrl-C); this command only reads: it stopped and changed nothing"
WRITE_INTERRUPTED = (
    "error: interrupted (Ctrl-C); what finished before it is stored: run the same command again to go on"
)


def _sigterm(*args: object, **kwargs: object) -> None:
    signal.raise_signal(signal.SIGTERM)  # the CLI's own handler turns it into the stop, where the command is


def _ctrl_c(*args: object, **kwargs: object) -> None:
    raise KeyboardInterrupt


# command line, the module and function it reads through (stopped there)
READERS: dict[str, tuple[list[str], str, str]] = {
    "leaderboard": (["leaderboard"], "llmtrade.app.leaderboard", "leaderboard"),
    "status": (["status"], "llmtrade.app.queries", "status"),
    "report": (["report", "-o", "report.html"], "llmtrade.app.report", "write_report"),
    "trace": (["trace", "20260107T130000Z-3f9a1c"], "llmtrade.observe.timeline", "trace_run"),
    "memory search": (["memory", "search", "a thesis", "--offline"], "llmtrade.app.memory_queries", "search_text"),
    "watchlist show": (["watchlist", "show"], "llmtrade.app.discovery", "watchlist_show"),
    "db status": (["db", "status"], "llmtrade.app.housekeeping", "database_status"),
    "events": (["events"], "llmtrade.storage.event_store", "EventStore.read"),
}


def _events(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    assert row is not None
    return int(row[0])


def _stop_in(monkeypatch: pytest.MonkeyPatch, module: str, name: str, stop: Callable[..., None]) -> None:
    import importlib

    owner, _, attribute = name.rpartition(".")
    target = importlib.import_module(module)
    monkeypatch.setattr(getattr(target, owner) if owner else target, attribute, stop)


@pytest.mark.parametrize("command", READERS)
@pytest.mark.parametrize(("stop", "code", "line"), [(_sigterm, 143, READ_TERMINATED), (_ctrl_c, 130, READ_INTERRUPTED)])
def test_a_read_command_stopped_says_it_changed_nothing(
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: object,
    command: str,
    stop: Callable[..., None],
    code: int,
    line: str,
) -> None:
    """Found by the new-user trial: Ctrl-C on `leaderboard` said 'what finished before it is stored: run the same
    command again to go on', as if it had been writing something to go on with."""
    monkeypatch.chdir(str(tmp_path))
    args, module, name = READERS[command]
    before = _events(cli_env["DATABASE_URL"])
    _stop_in(monkeypatch, module, name, stop)
    result = runner.invoke(app, args)
    assert (result.exit_code, result.stderr.splitlines()) == (code, [line]), result.output
    assert _events(cli_env["DATABASE_URL"]) == before


def test_a_writing_job_stopped_still_says_the_same_command_goes_on(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same process ran a read command first: its declaration does not outlive it.
    _stop_in(monkeypatch, "llmtrade.app.queries", "status", _ctrl_c)
    assert runner.invoke(app, ["status"]).stderr.splitlines() == [READ_INTERRUPTED]
    _stop_in(monkeypatch, "llmtrade.app.backtest", "backtest", _ctrl_c)
    result = runner.invoke(app, ["backtest", "--from", "2026-01-07", "--to", "2026-01-14", "--offline"])
    assert result.exit_code == 130
    [line] = result.stderr.splitlines()  # and the backtest's own note on the step of its start it stopped in
    assert line.startswith(f"{WRITE_INTERRUPTED}. backtest 'default' stopped before its first week"), line
