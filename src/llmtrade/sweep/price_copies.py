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

A worker writes its copy into a `.staging-*` folder beside it first (sweep/work.py `staging`), moved into place once
whole. One killed while it wrote (kill -9, the OOM killer) left that folder, a part of the prices, for good: nothing
removed it. The driver now removes, when it starts and when it ends, each staging folder there that no process holds
(its writer keeps a flock on it) and that has not changed for `STALE_STAGING`; a worker writing one holds it, and a
fresh one is left in any case (a writer between making it and locking it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from llmtrade.sweep.work import STAGING_PREFIX, Shared, copy_path

# How long a staging folder must have been left unchanged before a sweep removes it (its writer holding no lock).
STALE_STAGING = timedelta(minutes=10)


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
    drop_stale_staging(folder.parent)
    try:
        yield
    finally:
        try:
            _release(descriptor, lock, folder)
        finally:
            drop_stale_staging(folder.parent)


def drop_stale_staging(root: Path) -> list[Path]:
    """Each staging folder under `root` a killed worker left, removed (see the module docstring): unchanged for
    `STALE_STAGING` and locked by no process. Returns those removed. One out of reach (another user's) is left."""
    removed = []
    try:
        found = [path for path in root.glob(f"{STAGING_PREFIX}*") if path.is_dir()]
    except OSError:
        return removed
    for path in found:
        try:
            if time.time() - _changed(path) < STALE_STAGING.total_seconds():
                continue
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:  # gone meanwhile (moved into place, or removed by another sweep), or not ours to read
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live worker writes it
            os.close(descriptor)
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        finally:
            os.close(descriptor)
    return removed


def _changed(folder: Path) -> float:
    """The last time `folder` or a file in it changed (a writer's file grows without changing the folder)."""
    latest = folder.stat().st_mtime
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            latest = max(latest, path.stat().st_mtime)
    return latest


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
