"""What keeps the metrics step cheap (issue 16's 1% budget), against the real PostgreSQL: the command's own live
connection handed over to it (storage/handover.py), and every metric read in one statement."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.observe import metrics as observe_metrics
from llmtrade.settings import Settings
from llmtrade.storage import connection, database, handover
from llmtrade.storage.bootstrap import open_storage

runner = CliRunner()


@pytest.fixture
def handing_over() -> Iterator[None]:
    handover.enable()
    yield
    handover.finish()


def test_outside_a_command_closing_the_storage_closes_its_connection(database_url: str, clock: FixedClock) -> None:
    with open_storage(Settings(DATABASE_URL=database_url), clock) as storage:
        conn = storage.conn
    assert conn.closed
    assert handover.take() is None


def test_in_a_command_the_live_connection_is_kept_idle_and_finish_closes_it(
    database_url: str, clock: FixedClock, handing_over: None
) -> None:
    with open_storage(Settings(DATABASE_URL=database_url), clock) as storage:
        conn = storage.conn
    assert not conn.closed
    assert conn.execute("SELECT 1").fetchone() == (1,)  # still usable as it is
    handover.finish()
    assert conn.closed and handover.take() is None


def test_a_connection_the_caller_chose_or_left_in_a_transaction_is_closed_not_kept(
    database_url: str, clock: FixedClock, handing_over: None
) -> None:
    settings = Settings(DATABASE_URL=database_url)
    # A backtest's own database comes with its location: never handed to the live metrics.
    with open_storage(settings, clock, location=database.locate(settings)) as chosen:
        chosen_conn = chosen.conn
    assert chosen_conn.closed and handover.take() is None
    storage = open_storage(settings, clock)
    storage.conn.execute("BEGIN")
    storage.close()
    assert storage.conn.closed and handover.take() is None


def test_a_command_hands_its_connection_to_the_metrics_step_which_connects_to_nothing(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    connects: list[str] = []
    real_connect = connection.connect
    monkeypatch.setattr(connection, "connect", lambda url, **kw: connects.append(url) or real_connect(url, **kw))
    used: list[psycopg.Connection] = []
    real_snapshot = observe_metrics.snapshot
    monkeypatch.setattr(observe_metrics, "snapshot", lambda conn: used.append(conn) or real_snapshot(conn))
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert connects == []  # neither located again nor a new connection
    assert len(used) == 1 and used[0].closed  # the step closed what it was handed
    assert handover.take() is None
    assert "llmtrade_runs_total" in (Path(str(Settings().home)) / "metrics" / "llmtrade.prom").read_text()


def test_the_metrics_step_connects_itself_when_the_command_left_no_connection(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setattr(handover, "park", lambda conn: False)  # as after a command that died mid-transaction
    connects: list[str] = []
    real_connect = connection.connect
    monkeypatch.setattr(connection, "connect", lambda url, **kw: connects.append(url) or real_connect(url, **kw))
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert connects == [database_url]
    assert "metrics not written" not in result.stderr
    assert (Path(str(Settings().home)) / "metrics" / "llmtrade.prom").exists()


def test_the_metrics_read_one_snapshot_in_one_statement(database_url: str) -> None:
    statements: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        real = conn.execute

        def counted(query: str, *args: object, **kwargs: object) -> psycopg.Cursor:  # type: ignore[type-arg]
            statements.append(query)
            return real(query, *args, **kwargs)  # type: ignore[arg-type]

        conn.execute = counted  # type: ignore[method-assign]
        families = observe_metrics.snapshot(conn)
    assert len(statements) == 1
    assert {f.name for f in families} >= {"llmtrade_runs", "llmtrade_model_calls", "llmtrade_equity_usd"}


def test_a_handed_over_connection_the_server_dropped_is_replaced_and_the_file_still_written(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    real_take = handover.take
    dropped: list[int] = []

    def take_after_a_server_restart() -> psycopg.Connection | None:
        conn = real_take()
        if conn is None:
            return None  # finish() asks too
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        dropped.append(conn.info.backend_pid)
        return conn

    monkeypatch.setattr(handover, "take", take_after_a_server_restart)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert dropped and "metrics not written" not in result.stderr
    assert "llmtrade_runs_total" in (Path(str(Settings().home)) / "metrics" / "llmtrade.prom").read_text()
