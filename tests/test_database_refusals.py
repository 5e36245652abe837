"""A DATABASE_URL whose server cannot hold the schema as it is set up: a role that may not create tables or the
pgvector extension (a managed PostgreSQL's usual non-owner role), a server without pgvector. Each is a setting to fix
(exit 2, naming DATABASE_URL and what to do), never a raw traceback or an exit 1 read as llmtrade's own fault."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.clock import FixedClock
from llmtrade.errors import UsageError
from llmtrade.settings import Settings
from llmtrade.storage import migrations
from llmtrade.storage.bootstrap import open_storage
from tests.support import FIXED_NOW, WEDNESDAY_8AM

runner = CliRunner()


@pytest.fixture
def role_url(pg_admin_url: str, empty_database_url: str) -> Iterator[str]:
    """`empty_database_url` as a login role of its own that owns nothing: it may connect, and create in schema public
    only what the test grants it (PostgreSQL 15 on grants PUBLIC no CREATE there)."""
    role = f"r_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    head, _, query = empty_database_url.partition("?")
    yield head.replace("postgres:@", f"{role}:@", 1) + (f"?{query}" if query else "")
    with contextlib.suppress(psycopg.Error), psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {role}")
    with contextlib.suppress(psycopg.Error), psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f"DROP ROLE {role}")


def _said(url: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["status"], env={"DATABASE_URL": url})
    return result.exit_code, result.output


def test_a_role_that_may_create_nothing_in_schema_public_is_told_what_to_grant(role_url: str) -> None:
    code, output = _said(role_url)
    assert code == 2, output
    assert "Traceback" not in output
    assert "DATABASE_URL's server cannot hold llmtrade's tables as set up" in output
    assert "permission denied for schema public" in output
    assert "grant the role CREATE on schema public" in output


def test_a_role_that_may_not_create_pgvector_is_told_who_must(role_url: str, empty_database_url: str) -> None:
    role = role_url.split("://", 1)[1].split(":", 1)[0]
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    code, output = _said(role_url)
    assert code == 2, output
    assert 'migration 0005_memory was refused: permission denied to create extension "vector"' in output
    assert "CREATE EXTENSION IF NOT EXISTS vector;" in output
    # Which database: a backtest's own (made from template1) is refused after the live one was set up.
    dbname = psycopg.conninfo.conninfo_to_dict(empty_database_url)["dbname"]
    assert f"in the database {dbname} (and in template1" in " ".join(output.split())
    # The migrations before it are one transaction with it: none is left half applied for the next try.
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,)
    # Once the administrator creates the extension, the same role migrates and runs.
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    code, output = _said(role_url)
    assert code == 0, output


def test_a_server_without_the_extension_is_told_to_install_it(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The embedded server has pgvector; an extension it has no control file for is refused the same way (58P01).
    missing = migrations.Migration(1, "needs_an_extension", "CREATE EXTENSION no_such_extension_here;")
    monkeypatch.setattr(migrations, "_shipped", lambda: (missing,))
    with pytest.raises(UsageError) as refused:
        open_storage(Settings(DATABASE_URL=empty_database_url), FixedClock(FIXED_NOW))
    said = str(refused.value)
    assert "migration 0001_needs_an_extension was refused" in said
    assert 'extension "no_such_extension_here" is not available' in said
    assert "install pgvector on that server" in said


def test_a_read_only_server_or_role_is_a_setting_to_fix(database_url: str) -> None:
    # A hot standby refuses writes alike (SQLSTATE 25006); a role's or database's default_transaction_read_only is
    # what a trial can set up. Failed before: a ReadOnlySqlTransaction traceback, exit 1.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{conn.info.dbname}" SET default_transaction_read_only = on')
    result = runner.invoke(cli, ["run-weekly"], env={"DATABASE_URL": database_url, "LLMTRADE_NOW": WEDNESDAY_8AM})
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "DATABASE_URL's server refused a write: it is read-only for llmtrade" in " ".join(result.output.split())
    assert "point DATABASE_URL at the primary" in " ".join(result.output.split())


@pytest.mark.parametrize("encoding", ["SQL_ASCII", "LATIN1"])
def test_a_database_not_in_utf8_is_refused_before_anything_is_written(pg_admin_url: str, encoding: str) -> None:
    name = f"t_{encoding.lower()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} ENCODING '{encoding}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    url = pg_admin_url.replace("/postgres?", f"/{name}?", 1)
    try:
        # Failed before: the migrations made the tables, then the council's first answer (its quotes are not ASCII)
        # failed 'unsupported Unicode escape sequence' with exit 1.
        result = runner.invoke(cli, ["council", "Faut-il acheter? café"], env={"DATABASE_URL": url})
        said = " ".join(result.output.split())
        assert result.exit_code == 2, said
        assert f"is encoded {encoding}, not UTF8" in said
        assert "CREATE DATABASE" in said and "ENCODING 'UTF8'" in said
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('events')").fetchone() == (None,)
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_connection_limit_says_how_many_llmtrade_holds(role_url: str, pg_admin_url: str) -> None:
    role = role_url.split("://", 1)[1].split(":", 1)[0]
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {role} CONNECTION LIMIT 0")
    code, output = _said(role_url)
    said = " ".join(output.split())
    # A limit, or a full server: temporary (75), as others' sessions may close; what llmtrade needs is said, so a
    # limit below it is seen as the setting it is. Before: only the server's 'too many connections for role'.
    assert code == 75, said
    assert f'too many connections for role "{role}"' in said
    assert "llmtrade holds up to 2 connections at once for a command, 3 for a backtest" in said
