"""Numbered SQL migrations (`migrations/NNNN_name.sql`), applied once each and recorded.

A PostgreSQL advisory lock serialises migrators, so two commands starting at once on a fresh
database cannot both apply the same file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from llmtrade.errors import DatabaseError

if TYPE_CHECKING:
    import psycopg

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any fixed 64-bit number works; this one spells "llmtrade" in hex-ish so it is recognisable in pg_locks.
_MIGRATION_LOCK = 0x11_77_ADE0


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    sql: str


@dataclass(frozen=True)
class AppliedMigration:
    number: int
    name: str
    applied_at: datetime


def available() -> list[Migration]:
    """The migrations shipped in the package, in order."""
    return list(_shipped())


@cache
def _shipped() -> tuple[Migration, ...]:
    # The package's files do not change while it runs; a drill or a backtest opens storage per job.
    found = []
    for entry in resources.files("llmtrade.storage").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.number)
    numbers = [m.number for m in found]
    if len(set(numbers)) != len(numbers):
        raise DatabaseError(f"two migrations share a number: {numbers}")
    return tuple(found)


def applied(conn: psycopg.Connection) -> list[AppliedMigration]:
    if not _has_table(conn):
        return []
    rows = conn.execute("SELECT number, name, applied_at FROM schema_migrations ORDER BY number").fetchall()
    return [AppliedMigration(*row) for row in rows]


def migrate(conn: psycopg.Connection) -> list[Migration]:
    """Apply every migration not yet applied; returns the ones applied now (empty when up to date)."""
    if _up_to_date(conn):
        return []  # the common case, without the lock: a number is recorded only once its migration committed
    done: list[Migration] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   number integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        have = {row[0] for row in conn.execute("SELECT number FROM schema_migrations")}
        for migration in available():
            if migration.number in have:
                continue
            try:
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (number, name) VALUES (%s, %s)",
                        (migration.number, migration.name),
                    )
            except Exception as exc:
                if _is_outage(exc):
                    raise  # the server went away or filled its disk: exit 75 (exits.py), not a bad migration
                raise DatabaseError(f"migration {migration.number:04d}_{migration.name} failed: {exc}") from exc
            done.append(migration)
    return done


def _up_to_date(conn: psycopg.Connection) -> bool:
    if not _has_table(conn):
        return False
    have = {row[0] for row in conn.execute("SELECT number FROM schema_migrations")}
    return all(m.number in have for m in _shipped())


def _has_table(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
    return row is not None and row[0] is not None


def _is_outage(exc: Exception) -> bool:
    import psycopg  # lazy, as everywhere in storage

    return isinstance(exc, psycopg.OperationalError)
