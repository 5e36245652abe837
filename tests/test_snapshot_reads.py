"""A reading command's figures of books another process is writing come from one state of them
(storage/snapshot_reads.py): a trial's `leaderboard --backtest NAME`, polled while the backtest ran, read its fills and
runs, then its record, a week committed between them, and said it was finished while its figures stopped a week
short."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import IsolationLevel
from typer.testing import CliRunner

from llmtrade.app import leaderboard as boards
from llmtrade.cli import app as cli
from llmtrade.storage.snapshot_reads import one_snapshot
from tests.test_backtest import _run, _unique

runner = CliRunner()


def _count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM snap").fetchone()
    assert row is not None
    return int(row[0])


def test_reads_in_one_snapshot_do_not_see_what_another_connection_commits_meanwhile(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as reader, psycopg.connect(database_url, autocommit=True) as w:
        w.execute("CREATE TEMP TABLE IF NOT EXISTS snap_probe (x int)")  # the connection works
        w.execute("DROP TABLE IF EXISTS snap")
        w.execute("CREATE TABLE snap (x int)")
        w.execute("INSERT INTO snap VALUES (1)")
        try:
            with one_snapshot(reader):
                assert _count(reader) == 1
                w.execute("INSERT INTO snap VALUES (2)")  # a week committed by the running backtest
                assert _count(reader) == 1  # the same state as the first read
            assert _count(reader) == 2 and reader.isolation_level is None  # after: as before, the latest state
            with one_snapshot(reader, wanted=False):
                w.execute("INSERT INTO snap VALUES (3)")
                assert _count(reader) == 3
        finally:
            w.execute("DROP TABLE snap")


def test_a_backtests_leaderboard_is_built_in_one_snapshot(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _unique()
    _run(database_url, tmp_path, name, audit=0)
    build = boards.build_leaderboard
    seen: list[tuple[Any, Any]] = []

    def watched(app: Any, storage: Any, *, source: str) -> Any:
        seen.append((storage.conn.isolation_level, storage.conn.info.transaction_status))
        return build(app, storage, source=source)

    monkeypatch.setattr(boards, "build_leaderboard", watched)
    env = {"DATABASE_URL": database_url, "LLMTRADE_HOME": str(tmp_path)}
    shown = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    assert seen == [(IsolationLevel.REPEATABLE_READ, psycopg.pq.TransactionStatus.INTRANS)]
    page = runner.invoke(cli, ["report", "--backtest", name, "-o", str(tmp_path / "r.html")], env=env)
    assert page.exit_code == 0, page.output
    assert seen[1] == (IsolationLevel.REPEATABLE_READ, psycopg.pq.TransactionStatus.INTRANS)
