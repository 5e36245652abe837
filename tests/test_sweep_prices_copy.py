"""A sweep worker's copy of the shipped prices (sweep/work.py `prices_folder`) is the prices it was shipped, whatever
happened to the copy since it was written: it lives under the system's temporary folder, for as long as the sweep is
rerun (months, from cron), and /tmp's cleaners (systemd-tmpfiles' age, tmpreaper) delete old files in it."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from llmtrade.sweep import work
from llmtrade.sweep.work import Shared, prices_folder


def _shared() -> Shared:
    # Prices of their own (a hash no other test has), so the copy is this test's alone.
    mark = uuid.uuid4().hex
    prices = {"SPY.csv": f"date,open,high,low,close,volume\n# {mark}\n".encode(), "GLD.csv": b"date,close\n"}
    return Shared(settings={}, config_dir=None, config_source="packaged", prices=prices, prices_hash=mark * 2)


def test_a_copy_whose_files_were_deleted_or_changed_since_is_written_again_in_the_same_place() -> None:
    """The folder was reused when it existed: a file /tmp's cleaner had deleted from it (the folder kept) made a rerun's
    backtest fail 'no file for SPY' (exit 2, not retried, the user's folder holding it), and a truncated one read as
    other prices than the run's id was hashed from."""
    shared = _shared()
    folder = prices_folder(shared)
    assert folder is not None
    try:
        _mended(shared, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        work._folders.pop(shared.prices_hash, None)


def _mended(shared: Shared, folder: Path) -> None:
    (folder / "SPY.csv").unlink()  # the cleaner, between two invocations of the sweep
    (folder / "GLD.csv").write_bytes(b"")
    work._folders.clear()  # a new worker process: the next invocation's
    again = prices_folder(shared)
    assert again == folder  # the same place: a resumed backtest finds its prices where it recorded them
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == shared.prices
    # And within one worker, between two runs of a long sweep.
    (folder / "GLD.csv").unlink()
    assert prices_folder(shared) == folder
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == shared.prices
