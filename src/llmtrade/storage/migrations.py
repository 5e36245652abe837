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

from llmtrade.errors import DatabaseError, UsageError

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
    _numbers(conn)  # refuses another application's table of that name
    rows = conn.execute("SELECT number, name, applied_at FROM schema_migrations ORDER BY number").fetchall()
    return [AppliedMigration(*row) for row in rows]


def migrate(conn: psycopg.Connection) -> list[Migration]:
    """Apply every migration not yet applied; returns the ones applied now (empty when up to date)."""
    if _up_to_date(conn):
        return []  # the common case, without the lock: a number is recorded only once its migration committed
    done: list[Migration] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        try:
            with conn.transaction():  # a savepoint: a refusal's message still asks the server for its search_path
                conn.execute(
                    """CREATE TABLE IF NOT EXISTS schema_migrations (
                           number integer PRIMARY KEY,
                           name text NOT NULL,
                           applied_at timestamptz NOT NULL DEFAULT now())"""
                )
        except Exception as exc:
            # From PostgreSQL 15 a role that does not own the database may create nothing in schema public: the first
            # table is where that shows (it was a raw traceback).
            refused = None if _is_outage(exc) else _server_refusal("the migrations' own table", exc, conn)
            if refused is not None:
                raise refused from exc
            raise
        have = _numbers(conn)
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
                refused = _server_refusal(f"migration {migration.number:04d}_{migration.name}", exc, conn)
                if refused is not None:
                    raise refused from exc
                raise DatabaseError(f"migration {migration.number:04d}_{migration.name} failed: {exc}") from exc
            done.append(migration)
            if "CREATE EXTENSION" in migration.sql:  # 0005: the server's own pgvector, which may be older
                row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
                _refuse_old_pgvector(conn, row[0] if row else None)  # rolls back every migration of this open
    return done


# What the memory needs of pgvector: halfvec (0.7.0) for migrations 0007-0009's HNSW graph, and the
# hnsw.iterative_scan setting (0.8.0) every similar-setups read sets (memory/similar.py). Before 0.8.0 pgvector
# reserves the `hnsw` prefix with hnsw.ef_search alone: setting the other is an error, and every recall failed.
PGVECTOR_NEEDED = (0, 8, 0)


def _refuse_old_pgvector(conn: psycopg.Connection, version: str | None) -> None:
    """UsageError (exit 2) when the database's pgvector extension is older than PGVECTOR_NEEDED. A package upgrade
    leaves a database's extension at the version it was created with until `ALTER EXTENSION vector UPDATE`: the
    migrations failed at 0007 ('type "halfvec" does not exist', exit 1) on 0.6, and on 0.7 every weekly run failed
    at its first recall, after the research's model calls were paid for."""
    if version is None or _version(version) >= PGVECTOR_NEEDED:
        return
    row = conn.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    package = str(row[0]) if row and row[0] else None
    needed = ".".join(map(str, PGVECTOR_NEEDED))
    first = (
        f"upgrade the server's pgvector package (it is {package}: https://github.com/pgvector/pgvector#installation), "
        "then "
        if package is not None and _version(package) < PGVECTOR_NEEDED
        else ""
    )
    raise UsageError(
        f"the database {conn.info.dbname} has pgvector {version}; llmtrade's memory needs {needed} or later (halfvec "
        f"for its search index, iterative index scans for its searches): {first}run `ALTER EXTENSION vector UPDATE;` "
        "in that database as the extension's owner (a server of your own, DATABASE_URL: or unset it for the embedded "
        "server, which has it)"
    )


def _version(text: str) -> tuple[int, ...]:
    """ "0.8.5" as (0, 8, 5); a suffix's digits follow ("0.8.0-rc1": (0, 8, 0, 1), of 0.8.0's features)."""
    return tuple(int(digits) for digits in re.findall(r"\d+", text))


# SQLSTATEs of a server that cannot hold the schema as it is set up (a DATABASE_URL's; the embedded server has both):
# the role may not create what a migration creates, or the server has no pgvector to create.
_NOT_ALLOWED = "42501"  # insufficient_privilege
# An extension not installed on the server: PostgreSQL 18 says feature_not_supported ('extension "vector" is not
# available'), earlier versions undefined_file ('could not open extension control file').
_NO_EXTENSION = ("0A000", "58P01")
# A database another application uses too: a table (or index, function, trigger) of one of llmtrade's names is
# already there: duplicate_table, duplicate_object, duplicate_function.
_TAKEN = ("42P07", "42710", "42723")
_NO_SCHEMA = "3F000"  # invalid_schema_name: no schema of the search_path exists to create in
_UNDEFINED = "42704"  # undefined_object: 'type "vector" does not exist' when its schema is off the search_path
_OWN_PLACE = (
    "give llmtrade a database of its own (CREATE DATABASE llmtrade, and DATABASE_URL naming it) or a schema of its "
    "own (CREATE SCHEMA llmtrade; then ALTER ROLE <role> SET search_path = llmtrade, public, or "
    "?options=-csearch_path%3Dllmtrade,public in DATABASE_URL), or unset DATABASE_URL for the embedded server"
)


def _server_refusal(what: str, exc: Exception, conn: psycopg.Connection) -> UsageError | None:
    """The setup to fix (exit 2, naming DATABASE_URL) when the server refused `what` for its role's privileges, a
    missing extension, or a database laid out for another application, else None. A managed PostgreSQL whose role is
    not the database's owner refuses `CREATE EXTENSION vector` ("Must be superuser") or, from PostgreSQL 15, any table
    in schema public; a server without pgvector has no control file for it; a database another application uses may
    hold a table named as one of llmtrade's (`events`, `market_bars`), or a search_path naming no schema that exists,
    or none holding pgvector. Each said as "migration 0005_memory failed" with exit 1 (or a traceback) read as a fault
    of llmtrade's, not a setting of the server's. The failed migration's savepoint is rolled back: `conn` still
    answers."""
    state = getattr(exc, "sqlstate", None)
    diag = getattr(exc, "diag", None)
    reason = " ".join(str(getattr(diag, "message_primary", None) or exc).split())
    if state in _TAKEN:
        return _not_its_own(f"{what} was refused: {reason}", conn)
    if state == _NO_SCHEMA:
        path = _search_path(conn)
        return UsageError(
            f"the database {conn.info.dbname} has no schema to hold llmtrade's tables: {what} was refused: {reason}, "
            f"as no schema of the role's search_path ({path}) exists there: create it (CREATE SCHEMA ... "
            "AUTHORIZATION <role>; a backtest's own database, made from template1, needs it too, or public kept on "
            "the search_path) or set a search_path whose first schema exists, or unset DATABASE_URL for the embedded "
            "server"
        )
    if state == _UNDEFINED and '"vector"' in reason:
        return UsageError(
            f"DATABASE_URL's server cannot hold llmtrade's tables as set up: {what} was refused: {reason}, as the "
            f"schema pgvector is installed in{_extension_schema(conn)} is not on the role's search_path "
            f"({_search_path(conn)}): add it (for example search_path = llmtrade, public)"
        )
    if state != _NOT_ALLOWED and not (state in _NO_EXTENSION and "extension" in reason):
        return None
    hint = getattr(diag, "message_hint", None)
    said = f"{reason} ({' '.join(hint.split())})" if hint else reason
    if state != _NOT_ALLOWED:
        todo = (
            "install pgvector on that server (https://github.com/pgvector/pgvector#installation; managed services "
            "list it among their extensions), or unset DATABASE_URL for the embedded server, which has it"
        )
    else:
        todo = (
            # Named: a backtest's refusal is of its own database (llmtrade_bt_NAME, made from template1), not of the
            # live one the administrator already set up.
            f"have the server's administrator run `CREATE EXTENSION IF NOT EXISTS vector;` in the database "
            f"{conn.info.dbname} (and in template1, so that the databases backtests make have it too) and grant "
            "the role CREATE on schema public (or make it the database's owner), or unset DATABASE_URL for the "
            "embedded server"
        )
    return UsageError(
        f"DATABASE_URL's server cannot hold llmtrade's tables as set up: {what} was refused: {said}; {todo}"
    )


def _not_its_own(found: str, conn: psycopg.Connection) -> UsageError:
    """llmtrade writes its tables only where no other application's are: a table of another's under one of its names
    would have been read (or its migrations refused) as llmtrade's own."""
    return UsageError(
        f"DATABASE_URL's database is not llmtrade's alone: {found} (search_path {_search_path(conn)}); "
        f"llmtrade creates nothing beside another application's tables: {_OWN_PLACE}"
    )


def _search_path(conn: psycopg.Connection) -> str:
    try:
        row = conn.execute("SELECT current_setting('search_path')").fetchone()
    except Exception:  # a connection that no longer answers: the message goes without it
        return "unknown"
    return str(row[0]) if row else "unknown"


def _extension_schema(conn: psycopg.Connection) -> str:
    try:
        row = conn.execute(
            "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
    except Exception:  # as in _search_path
        return ""
    return f" ({row[0]})" if row else ""


def _up_to_date(conn: psycopg.Connection) -> bool:
    # One round trip, as before: whether the migrations' table is there, and the pgvector the database has.
    row = conn.execute(
        "SELECT to_regclass('schema_migrations'), (SELECT extversion FROM pg_extension WHERE extname = 'vector')"
    ).fetchone()
    _refuse_old_pgvector(conn, row[1] if row else None)
    if row is None or row[0] is None:
        return False
    have = _numbers(conn)
    return all(m.number in have for m in _shipped())


def _numbers(conn: psycopg.Connection) -> set[int]:
    """The migrations applied, from a `schema_migrations` table that is llmtrade's; UsageError when the table of that
    name is another application's (Rails, golang-migrate and sqlx keep theirs under this name: `version`, no
    `number`), which read as a raw UndefinedColumn traceback."""
    import psycopg  # lazy, as everywhere in storage

    try:
        return {row[0] for row in conn.execute("SELECT number FROM schema_migrations")}
    except psycopg.errors.UndefinedColumn as exc:
        raise _not_its_own("a table schema_migrations of another application's (no column number)", conn) from exc


def _has_table(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
    return row is not None and row[0] is not None


def _is_outage(exc: Exception) -> bool:
    import psycopg  # lazy, as everywhere in storage

    return isinstance(exc, psycopg.OperationalError)
