"""A DATABASE_URL whose pgvector is older than the memory needs.

The memory's migrations and reads need pgvector 0.8.0: halfvec (0.7.0) for migrations 0007-0009's HNSW graph, and the
`hnsw.iterative_scan` setting (0.8.0) every similar-setups read sets. pgvector before 0.8.0 defines hnsw.ef_search
alone and reserves the `hnsw` prefix, so setting `hnsw.iterative_scan` is an error ('invalid configuration parameter
name "hnsw.iterative_scan"'). A distribution's package upgrade leaves a database's extension at the version it was
created with until its owner runs `ALTER EXTENSION vector UPDATE`. Before: the migrations failed at 0007 with 'type
"halfvec" does not exist' (exit 1, read as llmtrade's fault) on pgvector 0.6; on 0.7 they passed, and every weekly
run failed at its first recall, after the research's model calls were paid for.

The embedded server ships pgvector 0.8.5 and no install script of an older one: the version a server reports is set
here in its catalog (pg_extension.extversion, what `\\dx` shows and what llmtrade reads), as a user's server would
report it."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli

runner = CliRunner()


def _report_version(url: str, version: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE pg_extension SET extversion = %s WHERE extname = 'vector'", (version,))


@pytest.mark.parametrize("version", ["0.7.4", "0.5.1"])
def test_an_old_pgvector_in_a_migrated_database_is_refused_naming_the_update(database_url: str, version: str) -> None:
    _report_version(database_url, version)
    result = runner.invoke(cli, ["status"], env={"DATABASE_URL": database_url})
    said = " ".join(result.output.split())
    assert result.exit_code == 2, said
    assert "Traceback" not in said
    assert f"pgvector {version}" in said and "0.8.0 or later" in said
    assert "ALTER EXTENSION vector UPDATE" in said
    _report_version(database_url, "0.8.5")  # updated: the same command runs
    assert runner.invoke(cli, ["status"], env={"DATABASE_URL": database_url}).exit_code == 0


def test_an_old_pgvector_created_before_the_migrations_is_refused_before_they_run(empty_database_url: str) -> None:
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
    _report_version(empty_database_url, "0.6.2")
    result = runner.invoke(cli, ["status"], env={"DATABASE_URL": empty_database_url})
    said = " ".join(result.output.split())
    assert result.exit_code == 2, said
    assert "pgvector 0.6.2" in said and "ALTER EXTENSION vector UPDATE" in said
    with psycopg.connect(empty_database_url) as conn:  # nothing was migrated half way
        assert conn.execute("SELECT to_regclass('memory_setup_vectors')").fetchone() == (None,)
