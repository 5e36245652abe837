"""Two `backtest delete`s of one backtest at once: the second, which looked at the backtest before the first dropped
it and took the delete's lease after the first gave it back, dropped nothing, yet said "deleted backtest ...:
database ... dropped", exit 0, and recorded a second BacktestDeleting and BacktestDeleted (dropped: true, status
"unreadable", no oid) for a database that was gone already: the live books held two deletions of one backtest.

The race is made exact here: the other delete runs whole just before this one takes the lease."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.app import backtest_books
from llmtrade.cli import app as cli
from llmtrade.storage.database import backtest_database
from tests.test_backtest_books import Pair, _copy, _exists, _sweep, _sweep_exists, _unique, env, pair

runner = CliRunner()
__all__ = ["env", "pair"]  # the fixtures, used by name


def _deletions(env: dict[str, str], name: str) -> list[str]:
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        rows = conn.execute(
            "SELECT type FROM events WHERE stream = 'backtests-deleted' AND payload->>'database' = %s ORDER BY id",
            (backtest_database(name),),
        ).fetchall()
    return [row[0] for row in rows]


def test_a_delete_whose_backtest_another_delete_dropped_as_it_waited_drops_and_records_nothing(
    pair: Pair, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _unique()
    _copy(pair, name)
    leasing = backtest_books.leased
    raced: list[Any] = []

    @contextmanager
    def other_first(storage: Any, database: str) -> Iterator[int]:
        if not raced:  # the other delete, run whole between this one's look and its lease
            monkeypatch.setattr(backtest_books, "leased", leasing)
            raced.append(runner.invoke(cli, ["backtest", "delete", name, "--yes"], env=env))
        with leasing(storage, database) as lease:
            yield lease

    monkeypatch.setattr(backtest_books, "leased", other_first)
    result = runner.invoke(cli, ["backtest", "delete", name, "--yes"], env=env)
    [first] = raced
    assert first.exit_code == 0, first.output
    assert not _exists(pair, name)
    assert _deletions(env, name) == ["BacktestDeleting", "BacktestDeleted"]  # the first's alone
    assert result.exit_code == 2, result.output
    assert "dropped" not in result.stdout
    assert "another delete" in result.stderr and "nothing was deleted" in result.stderr, result.stderr


def test_a_sweep_delete_whose_run_another_delete_dropped_as_it_waited_records_no_deletion_of_it(
    pair: Pair, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep's delete of a run another delete (`backtest delete RUN`) dropped as it was about to: no second
    deletion of it, nor an intent abandoned with nothing said of why; the run is not among the runs it deleted."""
    sweep, runs = _sweep(pair)
    leasing = backtest_books.leased
    raced: list[Any] = []

    @contextmanager
    def other_first(storage: Any, database: str) -> Iterator[int]:
        if not raced:
            monkeypatch.setattr(backtest_books, "leased", leasing)
            raced.append(runner.invoke(cli, ["backtest", "delete", runs[0], "--yes"], env=env))
        with leasing(storage, database) as lease:
            yield lease

    monkeypatch.setattr(backtest_books, "leased", other_first)
    result = runner.invoke(cli, ["backtest", "delete", sweep, "--sweep", "--yes", "--json"], env=env)
    [first] = raced
    assert first.exit_code == 0, first.output
    assert result.exit_code == 0, result.output
    assert not _sweep_exists(pair, sweep) and not any(_exists(pair, run) for run in runs)
    assert _deletions(env, runs[0]) == ["BacktestDeleting", "BacktestDeleted"]  # the other delete's alone
    assert _deletions(env, runs[1]) == ["BacktestDeleting", "BacktestDeleted"]
    shown = json.loads(result.stdout)
    assert [run["database"] for run in shown["runs"]] == [backtest_database(runs[1])]
