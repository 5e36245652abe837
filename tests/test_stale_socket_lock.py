"""The embedded server's postmaster killed outright (`kill -9`) and a command run at once: the dead postmaster is not
reaped yet (a zombie), so PostgreSQL, which asks the kernel whether the pid of its socket's lock file
(`.s.PGSQL.5432.lock`) lives, found it alive and refused to start ("lock file ... already exists. Is another
postmaster (PID N) using socket file ...?"): the command exited 1 with pg_ctl's "returned non-zero exit status 1",
though a second later the same command worked. A socket lock file naming a zombie (or a program of another name) is
now removed before the start, as its postmaster.pid is (storage/stale_lock.py); one naming a live postgres process is
left alone, and PostgreSQL's refusal over it is a temporary failure (exit 75) saying so."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from llmtrade.errors import DatabaseUnavailable
from llmtrade.exits import classify
from llmtrade.storage.connection import connect
from llmtrade.storage.database import start_embedded, stop_embedded
from tests.test_stale_lock import _died_and_pid_reused


@pytest.fixture
def named_postgres() -> Iterator[subprocess.Popen[bytes]]:
    """A process named postgres (a copy of `sleep`) of this test's, reaped only at the end, run by the user the
    embedded server runs as (pgserver's `pgserver` under root): PostgreSQL takes a lock file whose pid it may not
    signal (EPERM) for stale."""
    folder = Path(tempfile.mkdtemp(prefix="llmtrade-test-postgres-"))
    folder.chmod(0o755)
    program = folder / "postgres"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", program)
    program.chmod(0o755)
    process = subprocess.Popen([str(program), "300"], user="pgserver" if os.geteuid() == 0 else None)
    try:
        yield process
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _socket_lock(pgdata: Path) -> Path:
    socket_dir = (pgdata / "postmaster.pid").read_text().split("\n")[4].strip()
    return Path(socket_dir) / ".s.PGSQL.5432.lock"


def _name(lock: Path, pid: int) -> None:
    lines = lock.read_text().split("\n")
    lock.write_text("\n".join([str(pid), *lines[1:]]))


def test_a_start_just_after_the_postmaster_was_killed_starts_the_server(
    tmp_path: Path, named_postgres: subprocess.Popen[bytes]
) -> None:
    """The killed postmaster, still a zombie, named by both lock files: the next command starts the server."""
    pgdata = tmp_path / "pgdata"
    start_embedded(pgdata)
    lock = _socket_lock(pgdata)
    os.kill(named_postgres.pid, signal.SIGKILL)  # not reaped: a zombie named postgres, as the postmaster is
    deadline = time.monotonic() + 5
    while psutil.Process(named_postgres.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.05)
    _died_and_pid_reused(pgdata, named_postgres.pid)
    assert lock.exists()  # a postmaster killed outright leaves its socket's lock file
    _name(lock, named_postgres.pid)
    try:
        url = start_embedded(pgdata).url
        with connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert int(lock.read_text().split("\n", 1)[0]) not in (named_postgres.pid, 0)
    finally:
        stop_embedded(pgdata)


def test_a_socket_lock_file_of_a_live_postgres_process_is_kept_and_the_start_exits_75(
    tmp_path: Path, named_postgres: subprocess.Popen[bytes]
) -> None:
    """A postmaster killed but not yet ended (its process still named postgres, not a zombie): PostgreSQL refuses the
    start, and so it stays; the command is told to run again in a moment."""
    pgdata = tmp_path / "pgdata"
    start_embedded(pgdata)
    lock = _socket_lock(pgdata)
    _died_and_pid_reused(pgdata, named_postgres.pid)
    (pgdata / "postmaster.pid").unlink()
    _name(lock, named_postgres.pid)
    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            start_embedded(pgdata)
        failure = classify(raised.value)
        assert failure is not None and failure.code == 75, failure
        assert str(lock) in failure.message and f"process {named_postgres.pid}" in failure.message, failure.message
        assert "run the command again in a moment" in failure.message.lower(), failure.message
        assert int(lock.read_text().split("\n", 1)[0]) == named_postgres.pid  # never removed
    finally:
        lock.unlink(missing_ok=True)
        stop_embedded(pgdata)
