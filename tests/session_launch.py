"""What the test session sets up in its own process before anything starts another (conftest's pytest_configure):
every process it starts compiles each module once, and answers Ctrl-C however the session itself was started.

Kept apart from conftest.py, with nothing to import but the standard library, so a test can run them in a process of
its own (tests/test_session_launch.py)."""

from __future__ import annotations

import os
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
