"""Blank lines in a price file (a daily SYMBOL.csv, an intraday/SYMBOL.csv): among the rows they are refused (exit 2,
the file and line), after the last row they are passed over.

A blank line between two rows was passed over without a word: it is where a row was deleted by hand, or where two
files were joined, or what line ends written twice (\\r\\r\\n) leave between every row, so the file is not what its
exporter wrote. One at the end is what editors and exporters leave (an empty last line, Excel's cleared rows written as
",,,,,"), and nothing follows it: it is read as the end of the file. A line of spaces or of separators alone is blank
too: the first was refused as "1 fields where the header has 6 (a comma inside a number ...)", which named the wrong
fix, at the end of a file as anywhere; a leading blank line was "the file is empty", though its rows were there."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from llmtrade.errors import LlmtradeError
from llmtrade.exits import classify
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.market.csv_quotes import CsvQuotes, intraday_file
from tests.market_series import END, HEADER, START, rows


def _daily(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "SPY.csv"
    path.write_text(text, newline="")
    return path


def _refused(folder: Path) -> str:
    with pytest.raises(LlmtradeError) as caught:
        CsvFolderProvider(folder).daily_bars(["SPY"], START, END)
    failure = classify(caught.value)
    assert failure is not None and failure.code == 2, failure
    return failure.message


CLEAN = "\n".join([HEADER, *rows()]) + "\n"


@pytest.mark.parametrize("blank", ["", "   ", "\t", ",,,,,,", '"","","","","","",""'])
def test_a_blank_line_among_the_rows_is_refused_with_its_line(tmp_path: Path, blank: str) -> None:
    lines = [HEADER, *rows()]
    path = _daily(tmp_path, "\n".join([*lines[:5], blank, *lines[5:]]) + "\n")
    message = _refused(tmp_path)
    assert f"{path}, line 6: " in message and "blank line among the rows" in message, message
    assert "fields where the header has" not in message and "unparsable date" not in message, message


def test_a_blank_line_after_the_header_is_among_the_rows(tmp_path: Path) -> None:
    path = _daily(tmp_path, "\n".join([HEADER, "", *rows()]) + "\n")
    assert f"{path}, line 2: " in _refused(tmp_path)


def test_blank_lines_alike_are_said_once(tmp_path: Path) -> None:
    # A CRLF file written again through a text-mode writer: \r\r\n, a blank line after every row.
    path = _daily(tmp_path, CLEAN.replace("\n", "\r\r\n"))
    message = _refused(tmp_path)
    assert f"{path}, line 2: " in message and f"{len(rows()) - 1} more rows alike" in message, message
    assert message.count("blank line among the rows") == 1, message


def test_a_leading_blank_line_says_the_header_must_come_first(tmp_path: Path) -> None:
    path = _daily(tmp_path, "\n" + CLEAN)
    message = _refused(tmp_path)
    assert f"{path}, line 1: SPY: a blank first line: the file must begin with its header row" in message, message
    assert "empty" not in message, message


@pytest.mark.parametrize("tail", ["\n", "\n\n\n", "   \n", ",,,,,,\n,,,,,,\n", "\r\n \r\n"])
def test_blank_lines_after_the_last_row_are_passed_over(tmp_path: Path, tail: str) -> None:
    _daily(tmp_path / "clean", CLEAN)
    _daily(tmp_path / "tail", CLEAN + tail)
    clean = CsvFolderProvider(tmp_path / "clean").daily_bars(["SPY"], START, END)
    assert CsvFolderProvider(tmp_path / "tail").daily_bars(["SPY"], START, END) == clean


def _intraday(folder: Path, lines: list[str]) -> Path:
    path = intraday_file(folder, "SPY")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


ROWS = ["Timestamp,Price", "2026-01-12T09:40:00-05:00,600.0", "2026-01-12T09:50:00-05:00,601.0"]
NOW = datetime(2026, 1, 12, 10, 0, tzinfo=NEW_YORK)


@pytest.mark.parametrize("blank", ["", "  ", ","])
def test_an_intraday_files_blank_line_among_its_rows_is_refused_with_its_line(tmp_path: Path, blank: str) -> None:
    path = _intraday(tmp_path, [*ROWS[:2], blank, ROWS[2], ""])
    with pytest.raises(LlmtradeError) as caught:
        CsvQuotes(tmp_path, TradingCalendar()).latest(["SPY"], NOW)
    failure = classify(caught.value)
    assert failure is not None and failure.code == 2, failure
    assert f"{path}, line 3: " in failure.message and "blank line among the rows" in failure.message, failure.message


@pytest.mark.parametrize("tail", ["", "\n", "\n\n", "\n  \n", "\n,\n"])
def test_an_intraday_files_blank_lines_at_its_end_are_passed_over(tmp_path: Path, tail: str) -> None:
    _intraday(tmp_path, [*ROWS[:-1], ROWS[-1] + tail])
    quote = CsvQuotes(tmp_path, TradingCalendar()).latest(["SPY"], NOW)["SPY"]
    assert quote.price == 601.0
