"""A daily file whose date cells carry a time (yfinance's `to_csv` writes `2024-01-02 00:00:00-05:00`; a file made
from Yahoo's chart answer keeps each row's own stamp, the live row's the time of its last trade): a row stamped inside
its session, after the open and before the close, was taken then, while the session traded, whatever the file's
modification time says. Copied after the close (`cp`, a download, a checkout), the file's time is after the close and
its unfinished last row was read as the session's bar (market/csv_unfinished.py judged the file's time alone)."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path

import pytest

from llmtrade.clock import SystemClock
from llmtrade.errors import BarNotComplete
from llmtrade.market.calendar import NEW_YORK
from llmtrade.market.csv_checks import unfinished_note
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.market.csv_row import last_row_stamp
from tests.market_series import END, START, rows, write


@pytest.fixture(autouse=True)
def _machine_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's clock on END's evening: END is the last session, its file maybe exported again (a row of a
    session long closed is the file's to mend, exit 2: tests/test_unfinished_rows_stale.py)."""
    monkeypatch.setattr(SystemClock, "now", lambda self: datetime.combine(END, time(16, 30), NEW_YORK))


def _stamped(symbol: str, last: str) -> list[str]:
    """The rows with every date at midnight New York (yfinance's), the last one stamped `last`."""
    lines = [line.replace(",", " 00:00:00-05:00,", 1) for line in rows(symbol)]
    day, rest = lines[-1].split(" ", 1)
    return [*lines[:-1], f"{day} {last},{rest.split(',', 1)[1]}"]


def test_a_last_row_stamped_inside_its_session_is_left_out_though_the_file_was_written_after_the_close(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "csv"
    path = write(folder, "SPY", _stamped("SPY", "14:32:05-05:00"))  # written now, long after END's close
    write(folder, "TLT", rows("TLT"))
    with pytest.raises(BarNotComplete) as caught:
        CsvFolderProvider(folder).daily_bars(["SPY", "TLT"], START, END)
    said = str(caught.value)
    assert str(path) in said and f"no final row of {END}" in said and "14:32:05" in said
    assert "the row's own time" in said
    assert list(caught.value.symbols) == ["SPY"] and caught.value.answered["TLT"][-1].day == END
    assert [b.day for b in caught.value.unfinished["SPY"]] == [END]  # its open still prices the session


def test_a_stamp_without_an_offset_is_read_as_new_york_time(tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    write(folder, "SPY", _stamped("SPY", "11:00:00"))
    with pytest.raises(BarNotComplete):
        CsvFolderProvider(folder).daily_bars(["SPY"], START, END)


@pytest.mark.parametrize("last", ["00:00:00-05:00", "09:30:00-05:00", "16:00:00-05:00", "21:00:00+00:00"])
def test_a_row_stamped_at_midnight_the_open_or_the_close_is_a_final_bar(tmp_path: Path, last: str) -> None:
    """Midnight (yfinance's daily stamps), the open (Yahoo's chart stamps a day's bar at it) and the close or after
    say nothing of a row taken while the session traded: read as ever."""
    folder = tmp_path / "csv"
    write(folder, "SPY", _stamped("SPY", last))
    assert CsvFolderProvider(folder).daily_bars(["SPY"], START, END)["SPY"][-1].day == END


def test_config_validate_says_a_last_row_stamped_inside_its_session(tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    write(folder, "SPY", _stamped("SPY", "14:32:05-05:00"))
    said = unfinished_note(folder, ["SPY"])
    assert said is not None and f"no final row of {END}" in said and "the row's own time" in said


def _every_row_at(symbol: str, time: str) -> list[str]:
    """The rows with every date cell carrying the same time of day (a convention, not when each row was taken)."""
    return [line.replace(",", f" {time},", 1) for line in rows(symbol)]


@pytest.mark.parametrize("time", ["12:00:00", "16:00:00+00:00", "16:00:00Z"])
def test_a_time_every_row_carries_is_no_row_taken_in_session(tmp_path: Path, time: str) -> None:
    """Daily rows all stamped at one time of day inside the session (noon, a vendor's habit; the close's 16:00 written
    as UTC, which is 11:00 in New York in winter) say nothing of when the last was taken: its bar is final. Taken as the
    last row's export time, its final row was left out at every read, whatever file was written again (each new last
    row stamped alike): exit 75 forever, and `config validate` said it was unfinished."""
    folder = tmp_path / "csv"
    write(folder, "SPY", _every_row_at("SPY", time))
    assert CsvFolderProvider(folder).daily_bars(["SPY"], START, END)["SPY"][-1].day == END
    assert unfinished_note(folder, ["SPY"]) is None


def test_a_last_row_stamped_at_another_time_than_the_rows_before_is_still_left_out(tmp_path: Path) -> None:
    """Yahoo's chart answer stamps each day's bar at the open and the live one at its last trade: the time differs."""
    folder = tmp_path / "csv"
    lines = _every_row_at("SPY", "09:30:00-05:00")
    day, rest = lines[-1].split(" ", 1)
    write(folder, "SPY", [*lines[:-1], f"{day} 13:05:00-05:00,{rest.split(',', 1)[1]}"])
    with pytest.raises(BarNotComplete):
        CsvFolderProvider(folder).daily_bars(["SPY"], START, END)


@pytest.mark.parametrize(
    ("last", "before"),
    [("2026-03-09 12:00:00-04:00", "2026-03-06 12:00:00-05:00"), ("2026-03-09 16:00:00+00:00", "2026-03-06 17:00:00Z")],
)
def test_a_time_kept_across_a_change_of_daylight_saving_time_is_the_files_convention(last: str, before: str) -> None:
    """Noon in New York written with each day's offset, or in UTC (16:00Z after the change, 17:00Z before it)."""
    assert last_row_stamp(last, before) is None
    assert last_row_stamp(last, "2026-03-06") is not None  # the rows before carry no time: the last one's is its own
