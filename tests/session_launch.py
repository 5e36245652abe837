"""What the test session sets up in its own process before anything starts another (conftest's pytest_configure):
every process it starts compiles each module once, and answers Ctrl-C however the session itself was started.

Kept apart from conftest.py, with nothing to import but the standard library, so a test can run them in a process of
its own (tests/test_session_launch.py)."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

BYTECODE_PREFIX = "llmtrade-test-bytecode-"


def bytecode_kept() -> Path | None:
    """The session's processes keep the bytecode they compile, in one folder of the session's (PYTHONPYCACHEPREFIX),
    where a shell with PYTHONDONTWRITEBYTECODE (this machine's) had every `python -m llmtrade` a test starts, and every
    helper process, compile each llmtrade module again: ~0.25 of the ~0.9 CPU seconds such a process spends importing,
    some 300 processes a session (the suite: 543 s -> 497 s on three workers). Set in the session's first process
    (xdist's controller, before its workers start, so they and every subprocess share it). Returns the folder when
    this call made it (its maker deletes it at the end), else None: a worker reuses its controller's."""
    if BYTECODE_PREFIX in os.environ.get("PYTHONPYCACHEPREFIX", ""):
        folder, made = Path(os.environ["PYTHONPYCACHEPREFIX"]), None
    else:
        folder = made = Path(tempfile.mkdtemp(prefix=BYTECODE_PREFIX))
        os.environ["PYTHONPYCACHEPREFIX"] = str(folder)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.pycache_prefix, sys.dont_write_bytecode = str(folder), False  # this process's own later imports too
    return made


def ctrl_c_answered() -> None:
    """Ctrl-C raises KeyboardInterrupt in this process and in every process it starts, as in a terminal's.

    A session started with SIGINT ignored (a background job of a non-interactive shell, `nohup`, some CI runners)
    passes that on to everything it starts, across exec: Python then installs no handler of its own, and the tests of
    how llmtrade answers Ctrl-C failed (five of them), or hung for good (a sweep's driver waiting for a stop that never
    came). A handler in place here is reset to the default in each process started after it (execve), whose Python
    installs its own again."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


PGSERVER_RUNTIME_PREFIX = "llmtrade-test-run-"


def pgserver_lock_own() -> Path:
    """A runtime folder of this process's own (XDG_RUNTIME_DIR), made each time, so that pgserver's lock is this
    process's and the commands it starts: pgserver takes one lock file in its runtime folder (else /tmp/.lockfile,
    shared by every test session on the machine and every xdist worker) around each start of any server, initdb and
    `pg_ctl start -w` included. A command that opens its storage many times (a fresh home's run-due: 15 starts) waited
    behind the other workers' and sessions' initdbs at each, and on a loaded machine its first model call came more
    than a minute late (test_outages' run-due test flaked). The commands of one test still share one lock, as the
    commands of one user do. Set in each process (controller and every worker), and deleted as it ends: by an exit
    function registered before any server's start, so run after pgserver's own (which takes the lock again, and
    would make the folder again after a deletion at pytest_unconfigure)."""
    folder = Path(tempfile.mkdtemp(prefix=PGSERVER_RUNTIME_PREFIX))
    (folder / "python_PostgresServer").mkdir()  # platformdirs names it; pgserver falls back to /tmp without it
    os.environ["XDG_RUNTIME_DIR"] = str(folder)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def pgserver_lock_kept() -> None:
    """XDG_RUNTIME_DIR 0700 again, as platformdirs requires of it (else a command started now would take /tmp's lock,
    not this process's): pgserver, run as root with a data folder too long for a socket's path, makes the socket's
    folder in the runtime folder and opens every folder above it to others (g+rx, o+rx)."""
    if PGSERVER_RUNTIME_PREFIX in (folder := os.environ.get("XDG_RUNTIME_DIR", "")):
        Path(folder).chmod(0o700)
