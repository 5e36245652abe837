"""A command on the embedded server where XDG_RUNTIME_DIR is unset (cron, containers, `su`): nothing on stderr.

platformdirs warns (RuntimeDirWarning) when pgserver, imported, asks for its runtime folder without one; llmtrade
imports pgserver with warnings off (storage/database.py), or every cron wake-up would mail the warning. The test
session sets XDG_RUNTIME_DIR for pgserver's lock (tests/session_launch.py pgserver_lock_own): this is the one run
without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import llmtrade

# The code under test, not whatever copy is installed: the subprocess runs in a temporary folder.
SOURCE = str(Path(llmtrade.__file__).parents[1])


def test_a_command_starting_the_embedded_server_without_xdg_runtime_dir_says_nothing(clean_environment: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"XDG_RUNTIME_DIR", "DATABASE_URL"}}
    done = subprocess.run(
        [sys.executable, "-m", "llmtrade", "-q", "db", "status"],
        env={**env, "PYTHONPATH": SOURCE},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert (clean_environment / "pgdata" / "postmaster.pid").exists()  # it did start the server (the fixture stops it)
