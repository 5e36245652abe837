"""`llmtrade db status` after `llmtrade db stop` says the embedded server is stopped, and leaves it stopped: the status
started it again (a second server start behind the user's back, and "events: N" read from a server they had just
stopped, say to copy the home)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmtrade.storage.database import stop_embedded


def _llmtrade(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "LLMTRADE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "llmtrade", *args], env=env, capture_output=True, text=True, timeout=180
    )


def _server_runs(pgdata: Path) -> bool:
    return (pgdata / "postmaster.pid").exists()


def test_db_status_of_a_stopped_embedded_server_says_so_and_does_not_start_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    pgdata = home / "pgdata"
    monkeypatch.setenv("LLMTRADE_HOME", str(home))
    try:
        first = _llmtrade("db", "status", "--json", home=home)
        assert first.returncode == 0, first.stderr
        assert _server_runs(pgdata)
        stopped = _llmtrade("db", "stop", home=home)
        assert stopped.returncode == 0 and "stopped the embedded server" in stopped.stdout, stopped.stderr
        assert not _server_runs(pgdata)

        said = _llmtrade("db", "status", home=home)
        assert (said.returncode, said.stderr) == (0, ""), said.stderr
        assert said.stdout.splitlines() == [
            f"database: embedded PostgreSQL in {pgdata}",
            "server: stopped",
            "the next command that reads or writes the books starts it (this status does not)",
        ]
        document = json.loads(_llmtrade("db", "status", "--json", home=home).stdout)
        assert (document["running"], document["events"], document["embedded"]) == (False, None, True)
        # Not read either: a stopped server's migrations are unknown (null), not none applied and none pending ([]),
        # which --json said of books that had every migration applied the moment before `db stop`.
        assert (document["migrations"], document["pending"]) == (None, None), document
        assert not _server_runs(pgdata)  # neither status started it, nor the metrics written after them

        # The next command that needs the books starts it, as `db stop` says.
        assert _llmtrade("events", home=home).returncode == 0
        assert _server_runs(pgdata)
        assert json.loads(_llmtrade("db", "status", "--json", home=home).stdout)["running"] is True
    finally:
        stop_embedded(pgdata)
