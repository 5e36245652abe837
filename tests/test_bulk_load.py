"""A fresh backtest's memory goes without its HNSW graph while its weeks run, and every database ends with the
indexes the migrations made (storage/bulk_load.py): after a backtest, after a killed one is opened again or resumed
(an older build's, which deferred the events' indexes too); the live books never lose them."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from llmtrade.clock import SteppingClock
from llmtrade.domain.events import StoredEvent
from llmtrade.settings import Settings
from llmtrade.storage import bulk_load, sole_writer
from llmtrade.storage.bootstrap import open_storage
from llmtrade.storage.database import DatabaseLocation, backtest_database
from llmtrade.storage.sole_writer import SoleWriter
from tests.support import FIXED_NOW
from tests.test_backtest import FIRST, LAST, Killed, _events, _run, _unique, _url


def _indexes(url: str) -> dict[str, str]:
    """The indexes of the tables a backtest bulk-loads (its events, its memory's setup vectors): name -> definition,
    as PostgreSQL reports it."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('events', 'memory_setup_vectors')"
        ).fetchall()
    return dict(rows)


def test_the_deferred_indexes_are_built_back_exactly_as_the_migrations_made_them(database_url: str) -> None:
    migrated = _indexes(database_url)
    assert set(bulk_load.DEFERRED) < set(migrated)
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert bulk_load.missing(conn) == []
        assert bulk_load.defer(conn)
        assert bulk_load.missing(conn) == list(bulk_load.DEFERRED)
        assert set(_indexes(database_url)) == set(migrated) - set(bulk_load.DEFERRED)
        assert bulk_load.build(conn) == list(bulk_load.DEFERRED)
        assert bulk_load.build(conn) == []
    assert _indexes(database_url) == migrated


def test_the_events_indexes_an_older_build_deferred_are_built_back(database_url: str) -> None:
    # A backtest an older build ran and that was killed left its events without these: built back when opened.
    migrated = _indexes(database_url)
    assert set(bulk_load.DEFERRED_BEFORE) < set(migrated) and not set(bulk_load.DEFERRED_BEFORE) & set(
        bulk_load.DEFERRED
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in bulk_load.DEFERRED_BEFORE:
            conn.execute(f"DROP INDEX {name}")
        assert bulk_load.missing(conn) == list(bulk_load.DEFERRED_BEFORE)
        assert bulk_load.build(conn) == list(bulk_load.DEFERRED_BEFORE)
        assert bulk_load.missing(conn) == []
    assert _indexes(database_url) == migrated


def test_a_table_with_events_keeps_its_indexes(storage: object, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO events (type, stream, version, occurred_at) VALUES ('Something', 's', 1, now())")
        assert not bulk_load.defer(conn)
        assert bulk_load.missing(conn) == []


def test_nothing_is_built_while_a_backtest_holds_the_database(database_url: str) -> None:
    with (
        psycopg.connect(database_url, autocommit=True) as holder,
        psycopg.connect(database_url, autocommit=True) as other,
    ):
        holder.execute("SELECT pg_advisory_lock(%s)", (bulk_load.SOLE_WRITER,))
        assert bulk_load.defer(holder)
        assert bulk_load.build(other) == []  # the running backtest builds them when its weeks are done
        assert bulk_load.missing(other) == list(bulk_load.DEFERRED)
        assert bulk_load.build(holder) == list(bulk_load.DEFERRED)  # the holder itself may


def test_a_backtest_runs_without_the_deferred_indexes_and_ends_with_every_index(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_admin_url: str
) -> None:
    live_before = _indexes(database_url)
    name = _unique()
    url = _url(pg_admin_url, backtest_database(name))
    seen: list[list[str]] = []
    real = SoleWriter.flush

    def looks_at_the_indexes(self: SoleWriter, conn: psycopg.Connection | None = None) -> None:
        if self.pending:  # a week's (or part of one's) events written: what another connection sees then
            with psycopg.connect(url, autocommit=True) as other:
                seen.append(bulk_load.missing(other))
        real(self, conn)

    monkeypatch.setattr(SoleWriter, "flush", looks_at_the_indexes)
    _run(database_url, tmp_path, name, audit=1)

    # The memory's graph alone: the events' indexes are kept up by PostgreSQL while the weeks run (their COPY runs
    # behind), so the backtest's end does not wait for them to be built.
    assert seen and all(names == ["memory_setup_vectors_hnsw"] for names in seen)
    assert _indexes(url) == live_before  # every index the migrations made, as the live books have them
    assert _indexes(database_url) == live_before  # the live books were never touched


def test_a_killed_backtests_database_gets_its_indexes_back_when_opened_and_its_resume_ends_indexed(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_admin_url: str
) -> None:
    migrated = _indexes(database_url)
    name = _unique()
    url = _url(pg_admin_url, backtest_database(name))
    real = sole_writer.write

    def dies_writing_the_second_week(conn: psycopg.Connection, held: list[tuple[StoredEvent, str]]) -> None:
        # In the week's flush behind, on the writer's thread: raised in the backtest's by the next wait for it.
        if any(e.type == "BacktestWeekDone" and e.week_id == LAST for e, _ in held):
            raise Killed
        real(conn, held)

    monkeypatch.setattr(sole_writer, "write", dies_writing_the_second_week)
    with pytest.raises(Killed):
        _run(database_url, tmp_path, name, audit=0)
    monkeypatch.setattr(sole_writer, "write", real)
    assert [p["week_id"] for p in _events(url, "BacktestWeekDone")] == [str(FIRST)]
    assert set(_indexes(url)) == set(migrated) - set(bulk_load.DEFERRED)  # a failure does not wait for a build

    # Any open of the database (a leaderboard of it, a report) builds them back before it reads.
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    with open_storage(settings, SteppingClock(FIXED_NOW), location=DatabaseLocation(url, "test", False)):
        assert _indexes(url) == migrated

    # A resume runs indexed (its copies' first reads cover the weeks written) and ends so.
    with psycopg.connect(url, autocommit=True) as conn:
        for index in bulk_load.DEFERRED:
            conn.execute(f"DROP INDEX {index}")
    resumed = _run(database_url, tmp_path, name, audit=0)
    assert (resumed.weeks_done_before, resumed.weeks_run) == (1, 1)
    assert _indexes(url) == migrated


def test_the_live_books_open_without_looking_for_deferred_indexes(database_url: str, tmp_path: Path) -> None:
    # Only a backtest's own database is ever deferred: the live books' open sends nothing more for it, so an index
    # dropped there by hand stays dropped (and a live open costs no extra statement).
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP INDEX events_account_idx")
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    with open_storage(settings, SteppingClock(FIXED_NOW)):
        pass
    assert "events_account_idx" not in _indexes(database_url)
