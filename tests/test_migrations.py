"""Migrations against a real PostgreSQL, and the embedded server keeping data across a restart."""

from __future__ import annotations

import warnings
from pathlib import Path

import psycopg

from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent
from llmtrade.settings import Settings
from llmtrade.storage import migrations
from llmtrade.storage.bootstrap import open_storage
from llmtrade.storage.database import start_embedded, stop_embedded
from tests.support import FIXED_NOW


def test_migrations_apply_once_and_are_skipped_on_the_next_start(empty_database_url: str) -> None:
    clock = FixedClock(FIXED_NOW)
    settings = Settings(DATABASE_URL=empty_database_url)
    with open_storage(settings, clock) as first:
        assert [m.number for m in first.migrated_now] == [m.number for m in migrations.available()]
        recorded = migrations.applied(first.conn)
    with open_storage(settings, clock) as second:
        assert second.migrated_now == []
        assert migrations.applied(second.conn) == recorded
        rows = second.conn.execute("SELECT number, count(*) FROM schema_migrations GROUP BY number").fetchall()
    assert all(count == 1 for _, count in rows)
    assert [number for number, _ in sorted(rows)] == [m.number for m in migrations.available()]


def test_migrations_are_numbered_in_order_without_gaps() -> None:
    numbers = [m.number for m in migrations.available()]
    assert numbers == list(range(1, len(numbers) + 1))


def test_the_embedded_server_keeps_events_across_a_restart(tmp_path: Path) -> None:
    pgdata = tmp_path / "home" / "pgdata"
    clock = FixedClock(FIXED_NOW)
    settings = Settings(LLMTRADE_HOME=tmp_path / "home")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with open_storage(settings, clock) as storage:
            assert storage.location.embedded
            storage.events.append([NewEvent(type="Remembered", stream="s", payload={"x": 1})])
        assert stop_embedded(pgdata) is True
        assert stop_embedded(pgdata) is False  # nothing left to stop
        with open_storage(settings, clock, location=start_embedded(pgdata)) as storage:
            assert storage.migrated_now == []
            assert [e.payload for e in storage.events.read_stream("s")] == [{"x": 1}]
        stop_embedded(pgdata)


def test_database_url_is_used_when_set(database_url: str) -> None:
    with open_storage(Settings(DATABASE_URL=database_url), FixedClock(FIXED_NOW)) as storage:
        assert not storage.location.embedded
        assert storage.location.description.startswith("DATABASE_URL")
        dbname = storage.conn.execute("SELECT current_database()").fetchone()
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == dbname
