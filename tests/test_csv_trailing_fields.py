"""A comma at the end of every row but the header (an export that ends each row with its separator: pandas' read_csv
documents index_col=False for such files) leaves an empty field past the header's: the figures still stand in the
header's columns, nothing shifted, so the rows are read as they are. Such a file was refused on every row as "7 fields
where the header has 6 (a comma inside a number ...)", which named a fix the file did not need. A field past the
header's that holds anything (a stray value, an unquoted thousands separator) is still refused, as it shifts or adds a
figure."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.market.csv_quotes import CsvQuotes, intraday_file
from llmtrade.market.validation import SeriesRejected
from tests.market_series import END, HEADER, START, rows


def _daily(folder: Path, lines: list[str]) -> CsvFolderProvider:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SPY.csv").write_text("\n".join(lines) + "\n")
    return CsvFolderProvider(folder)


@pytest.mark.parametrize("end", [",", ",,", ", "])
def test_rows_ending_with_empty_fields_past_the_headers_are_read(tmp_path: Path, end: str) -> None:
    clean = _daily(tmp_path / "clean", [HEADER, *rows()]).daily_bars(["SPY"], START, END)
    ended = _daily(tmp_path / "ended", [HEADER, *(r + end for r in rows())])
    assert ended.daily_bars(["SPY"], START, END) == clean


def test_a_field_past_the_headers_with_a_value_is_still_refused(tmp_path: Path) -> None:
    lines = [HEADER, *(r + "," for r in rows())]
    lines[3] = lines[3] + "7"  # "...,5000,7": a figure the header has no column for
    with pytest.raises(SeriesRejected) as caught:
        _daily(tmp_path, lines).daily_bars(["SPY"], START, END)
    assert f"{tmp_path / 'SPY.csv'}, line 4: " in str(caught.value) and "8 fields where the header has 7" in str(
        caught.value
    )


def test_an_intraday_files_rows_ending_with_a_comma_are_read(tmp_path: Path) -> None:
    path = intraday_file(tmp_path, "SPY")
    path.parent.mkdir(parents=True)
    path.write_text("Timestamp,Price\n2026-01-12T09:40:00-05:00,600.0,\n2026-01-12T09:50:00-05:00,601.0,\n")
    now = datetime(2026, 1, 12, 10, 0, tzinfo=NEW_YORK)
    assert CsvQuotes(tmp_path, TradingCalendar()).latest(["SPY"], now)["SPY"].price == 601.0
