"""An embedded server that died (kill -9, a crash, a reboot) leaves its postmaster.pid, whose pid the system may give
to another program by the next start (pids start low again after a boot). pgserver took the server for running and
only connected: every command exited 75 ("connection refused") for as long as that program ran, and `db stop` had
pg_ctl signal it. The lock file is now removed when its pid is plainly no PostgreSQL process."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from llmtrade.storage.connection import connect
from llmtrade.storage.database import start_embedded, stop_embedded


@pytest.fixture
def other_program() -> Iterator[subprocess.Popen[bytes]]:
    """A program of this machine's that is no PostgreSQL: the one a reused pid belongs to."""
    process = subprocess.Popen(["sleep", "300"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def _died_and_pid_reused(pgdata: Path, pid: int) -> None:
    """The server killed outright, its lock file left naming `pid`."""
    lock = pgdata / "postmaster.pid"
    lines = lock.read_text().split("\n")
    postmaster = psutil.Process(int(lines[0]))
    os.kill(postmaster.pid, signal.SIGKILL)
    postmaster.wait(10)
    deadline = time.monotonic() + 10  # its backends leave once they see the postmaster gone
    while (
        any(
            p.info["name"] == "postgres" and str(pgdata) in " ".join(p.info["cmdline"] or [])
            for p in psutil.process_iter(["name", "cmdline"])
        )
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    lock.write_text("\n".join([str(pid), *lines[1:]]))


def test_a_lock_file_naming_another_programs_pid_does_not_stop_the_next_start(
    tmp_path: Path, other_program: subprocess.Popen[bytes]
) -> None:
    pgdata = tmp_path / "pgdata"
    start_embedded(pgdata)
    _died_and_pid_reused(pgdata, other_program.pid)
    url = start_embedded(pgdata).url  # the next command starts the server again
    try:
        with connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("llmtrade",)
        assert int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0]) != other_program.pid
    finally:
        stop_embedded(pgdata)
    assert other_program.poll() is None  # never signalled


def test_db_stop_over_such_a_lock_file_stops_nothing_and_signals_no_one(
    tmp_path: Path, other_program: subprocess.Popen[bytes]
) -> None:
    pgdata = tmp_path / "pgdata"
    start_embedded(pgdata)
    _died_and_pid_reused(pgdata, other_program.pid)
    assert stop_embedded(pgdata) is False  # nothing of it ran
    assert other_program.poll() is None
    assert not (pgdata / "postmaster.pid").exists()


def test_a_postgres_process_is_never_taken_for_stale(tmp_path: Path) -> None:
    """A live server's lock file stays, whichever data directory it serves: removing it would let a second server
    onto the same files."""
    from llmtrade.storage.stale_lock import drop_stale

    pgdata = tmp_path / "pgdata"
    start_embedded(pgdata)
    try:
        assert drop_stale(pgdata) is False
        assert (pgdata / "postmaster.pid").exists()
    finally:
        stop_embedded(pgdata)
