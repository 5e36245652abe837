"""A DATABASE_URL naming a database another application uses: its own `events` or `schema_migrations` table, or a
search_path that names no schema there, or none holding pgvector. llmtrade never migrates beside (or reads as its own)
another application's tables, and says what to do (exit 2): a database or schema of its own, the search_path to set."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli

runner = CliRunner()


def _said(url: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["status"], env={"DATABASE_URL": url})
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.output.split())


def _with_search_path(url: str, path: str) -> str:
    return f"{url}&options=-csearch_path%3D{path}"


@pytest.mark.parametrize(
    ("table", "said"),
    [
        # Failed before: exit 1, "migration 0001_event_store failed".
        ("events (id serial PRIMARY KEY, name text)", 'migration 0001_event_store was refused: relation "events"'),
        ("market_bars (symbol text)", 'migration 0003_market_bars was refused: relation "market_bars"'),
        # Rails' (golang-migrate's is alike). Failed before: a raw UndefinedColumn traceback.
        ("schema_migrations (version varchar PRIMARY KEY)", "a table schema_migrations of another application's"),
    ],
)
def test_another_applications_table_is_left_alone(empty_database_url: str, table: str, said: str) -> None:
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table}")
    code, output = _said(empty_database_url)
    assert code == 2, output
    assert "DATABASE_URL's database is not llmtrade's alone" in output
    assert said in output
    assert "give llmtrade a database of its own" in output
    with psycopg.connect(empty_database_url) as conn:  # nothing of llmtrade's was left beside it
        assert conn.execute("SELECT to_regclass('week_summaries')").fetchone() == (None,)


def test_a_search_path_of_no_schema_is_told_to_create_it(empty_database_url: str) -> None:
    # Failed before: a raw InvalidSchemaName traceback.
    code, output = _said(_with_search_path(empty_database_url, "llmtrade"))
    assert code == 2, output
    assert "no schema of the role's search_path (llmtrade) exists there" in output
    dbname = psycopg.conninfo.conninfo_to_dict(empty_database_url)["dbname"]
    assert f"the database {dbname} has no schema to hold llmtrade's tables" in output


def test_pgvector_off_the_search_path_is_told_to_add_its_schema(empty_database_url: str) -> None:
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
        conn.execute("CREATE SCHEMA llmtrade")
    # Failed before: exit 1, 'migration 0005_memory failed: type "vector" does not exist'.
    code, output = _said(_with_search_path(empty_database_url, "llmtrade"))
    assert code == 2, output
    assert "the schema pgvector is installed in (public) is not on the role's search_path (llmtrade)" in output
    # With it added, llmtrade's tables go to its own schema, beside nothing of another application's.
    code, output = _said(_with_search_path(empty_database_url, "llmtrade,public"))
    assert code == 0, output
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT to_regclass('llmtrade.events') IS NOT NULL").fetchone() == (True,)
        assert conn.execute("SELECT to_regclass('public.events')").fetchone() == (None,)
