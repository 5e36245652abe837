"""What `leaderboard --backtest` says of an unfinished backtest's books, read from another process.

Found by a new user's trial (daily ETF prices, stopped by Ctrl-C in week 22 of 104): the note said "21 of its 104
weeks ... done, and these figures cover only those", while the heading ran to the close of the unfinished week's
second session (two sessions of its jobs' books in the figures) and the report counted 22 weeks; and a backtest still
running in another process was said to be resumed by running the same command again, which exits 75 on its lock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.app import backtest_steps
from llmtrade.cli import app as cli
from llmtrade.storage.bulk_load import SOLE_WRITER
from llmtrade.storage.database import backtest_database
from tests.test_backtest import FIRST, LAST, _run, _unique, _url

runner = CliRunner()


def stopped_in_its_second_week(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new two-week backtest stopped by Ctrl-C at week 2's 2026-01-16 09:00 checkpoint (its 30th job: its 2026-01-14
    and -15 sessions have run); its name. DATABASE_URL is set to `database_url` for the commands that read it."""
    name = _unique()
    real = backtest_steps.checkpoint
    calls = {"n": 0}

    def interrupted_on_the_30th(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(backtest_steps, "checkpoint", interrupted_on_the_30th)
    with pytest.raises(KeyboardInterrupt):
        _run(database_url, tmp_path, name, audit=0)
    monkeypatch.setattr(backtest_steps, "checkpoint", real)
    monkeypatch.setenv("DATABASE_URL", database_url)
    return name


def test_an_unfinished_backtests_note_says_the_part_of_its_unfinished_week_its_figures_hold(
    database_url: str, pg_admin_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = stopped_in_its_second_week(database_url, tmp_path, monkeypatch)

    board = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json"])
    assert board.exit_code == 0, board.output
    document = json.loads(board.stdout)
    # The figures run into the unfinished week (its jobs' books are real), to the close of its second session ...
    assert document["end"] == "2026-01-15"
    # ... and the note says so, rather than "these figures cover only those" (the weeks done).
    assert document["unfinished"] == document["notes"][0]
    assert document["unfinished"].startswith(
        f"backtest {name} is unfinished: 1 of its 2 weeks ({FIRST} to {LAST}) done and week {LAST} in part: these "
        f"figures cover the weeks done and week {LAST}'s jobs to the close of 2026-01-15; "
    ), document["unfinished"]
    assert document["unfinished"].endswith("run the same `llmtrade backtest` command again to resume it")

    # While it runs in another process (its database's lock held, as app/backtest_container.py `held` takes it), the
    # same command would exit 75: it is said to be running instead.
    with psycopg.connect(_url(pg_admin_url, backtest_database(name)), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (SOLE_WRITER,))
        running = runner.invoke(cli, ["leaderboard", "--backtest", name])
    assert running.exit_code == 0, running.output
    [line] = [line for line in running.stdout.splitlines() if line.startswith("UNFINISHED: ")]
    assert "run the same" not in line
    assert line.endswith(
        "it is still running (another process holds its database): these are the books it has written so far"
    ), line
    # Once it has stopped, the advice to resume it is back.
    after = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json"])
    assert json.loads(after.stdout)["unfinished"] == document["unfinished"]
