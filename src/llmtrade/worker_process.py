"""What a helper process of a command runs first (analytics/draws.py, market/paths_ahead.py): it leaves Ctrl-C and
SIGTERM to its parent and ends with it."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading


def started_as_helper() -> None:
    """A ProcessPoolExecutor's initializer for a helper process.

    Ctrl-C reaches the whole process group: the command handles it and shuts the helper down; the helper itself must
    not die printing a traceback of its own. So does a SIGTERM sent to the group (`timeout`, systemd's control group, a
    CI runner), which the command answers as it does Ctrl-C: a helper ended by it on the spot could be midway through
    writing an answer to its pipe, and the pool's reader in the command then waits for the rest for good (the pool
    keeps the pipe's writing end open too), and the command's way out with it. A parent killed outright (SIGKILL, the
    OOM killer) shuts nothing down, and the helper holds both ends of its call queue, so it would wait for work for
    good, holding the command's stderr: it goes when the parent does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), name="llmtrade-helper-parent", daemon=True).start()


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the parent's sentinel fires: it has ended, however
    os._exit(0)
