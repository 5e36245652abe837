"""The copy of a sweep's prices its workers write on this machine (sweep/work.py `prices_folder`), removed when the
sweep ends, unless another sweep running at the same time uses it.

Each worker writes the prices it was shipped into `llmtrade-sweep-prices/<hash>` under the system's temporary folder.
Nothing removed them: every sweep of new prices (a folder downloaded again each week, from cron) left one more copy
of the whole folder there. Two sweeps of the same prices share one copy (its path is the prices' hash: a resumed
run finds its prices where its backtest recorded them), so the driver holds a shared lock (flock) on the copy's lock
file beside it while it runs (`copy_held`); at its end, however it ends (finished, failed, Ctrl-C, SIGTERM: the
executor's workers have stopped by then), the copy and its lock file are removed if no other sweep holds the lock.
A driver killed outright (`kill -9`) holds nothing any more: its copy is removed by the next sweep of the same prices
when that one ends. On a Ray cluster the copies other machines' workers wrote stay there (the driver reaches only
its own machine's temporary folder).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from llmtrade.sweep.work import Shared, copy_path


@contextlib.contextmanager
def copy_held(shared: Shared) -> Iterator[None]:
    """Within the block this sweep uses its prices' copy on this machine; after it, the copy is removed unless another
    sweep holds it (see the module docstring). Nothing for a sweep on the synthetic market."""
    if shared.prices is None:
        yield
        return
    folder = copy_path(shared.prices_hash)
    lock = folder.with_name(f".{folder.name}.lock")
    descriptor = _hold(lock)
    try:
        yield
    finally:
        _release(descriptor, lock, folder)


def _hold(lock: Path) -> int:
    """A shared lock on `lock` (made if missing). Taken again when the file was removed or replaced meanwhile: the
    sweep that removed it (`_release`) held it exclusively, and a lock on a removed file protects nothing."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(descriptor, fcntl.LOCK_SH)  # waits only while another sweep's end removes the copy
        try:
            same = os.stat(lock).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return descriptor
        os.close(descriptor)


def _release(descriptor: int, lock: Path, folder: Path) -> None:
    """The lock let go; the copy and its lock file removed first when no other sweep holds the lock."""
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another sweep of the same prices runs: its workers read the copy still
            return
        shutil.rmtree(folder, ignore_errors=True)
        lock.unlink(missing_ok=True)  # under the exclusive lock: a sweep starting now takes a new file (`_hold`)
    finally:
        os.close(descriptor)
