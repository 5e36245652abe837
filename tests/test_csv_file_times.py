"""A daily file's modification time that is not when its rows were written: unpacked from a zip (its stored times,
1980-01-01 for a zip made without them), copied with `cp -p` or `rsync -t`, or stamped by another machine's clock
ahead of this one. Its rows were judged by that time (market/csv_unfinished.py): every row whose session closed after
it left out as "written before the close", the symbol short until the file was touched. And a file parsed once per
size and modification time was not read again when written anew with both the same (a zip unpacked over it again)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from llmtrade.market.calendar import NEW_YORK
from llmtrade.market.csv_folder import CsvFolderProvider
from tests.market_series import END, START, good_bars, rows, write

ZIPPED = datetime(1980, 1, 1, tzinfo=NEW_YORK)  # a zip entry with no time of its own


def _at(path: Path, when: datetime) -> Path:
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def test_a_file_unpacked_with_a_time_before_its_rows_sessions_is_read_whole(tmp_path: Path) -> None:
    """Its time says it was written before the sessions its rows are of, which no file can be: the time its inode
    last changed (the unpacking, after every close) is taken instead, and every row is read."""
    folder = tmp_path / "csv"
    _at(write(folder, "SPY", rows("SPY")), ZIPPED)
    write(folder, "TLT", rows("TLT"))
    bars = CsvFolderProvider(folder).daily_bars(["SPY", "TLT"], START, END)
    assert [b.day for b in bars["SPY"]] == [b.day for b in good_bars("SPY")]
    assert bars["SPY"][-1].day == END


def test_a_file_written_anew_with_the_same_size_and_time_is_read_again(tmp_path: Path) -> None:
    """Unpacked again over itself from a vendor's corrected zip, the file has the same size and the same stored time:
    the corrected close is read, not the first version's kept by the parse."""
    folder = tmp_path / "csv"
    lines = rows("SPY")
    path = _at(write(folder, "SPY", lines), ZIPPED)
    provider = CsvFolderProvider(folder)
    first = provider.daily_bars(["SPY"], START, END)["SPY"][-1]
    size = path.stat().st_size
    day, symbol, open_, high, low, close, volume = lines[-1].split(",")
    corrected = close[:-1] + ("1" if close[-1] != "1" else "2")  # the last digit moved: the same width
    assert float(low) <= float(corrected) <= float(high)
    _at(write(folder, "SPY", [*lines[:-1], ",".join([day, symbol, open_, high, low, corrected, volume])]), ZIPPED)
    assert path.stat().st_size == size and path.stat().st_mtime_ns == int(ZIPPED.timestamp()) * 10**9
    again = provider.daily_bars(["SPY"], START, END)["SPY"][-1]
    assert again.close == float(corrected) != first.close
