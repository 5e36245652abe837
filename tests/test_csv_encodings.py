"""A price file as Windows tools save it: Excel's "Unicode text" (UTF-16 with a byte-order mark, separated by tabs),
UTF-16 big-endian, UTF-32, and Excel's "CSV UTF-8". Found by a new user: GLD.csv saved as UTF-16 was refused as "byte
0xFF is not UTF-8 (the file looks Latin-1 or Windows-1252 encoded)", the wrong encoding named. A byte-order mark says
the encoding exactly, so the file is read; UTF-16 without one is refused naming UTF-16, not Latin-1."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from llmtrade.errors import MarketDataError
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.csv_folder import CsvFolderProvider, read_csv
from llmtrade.market.csv_quotes import CsvQuotes, intraday_file
from llmtrade.market.validation import ProblemKind, SeriesRejected
from tests.market_series import END, HEADER, START, rows

TEXT = "\n".join([HEADER, *rows("SPY")]) + "\n"


def _saved(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "SPY.csv"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_a_file_with_a_byte_order_mark_is_read_in_its_encoding(tmp_path: Path, encoding: str) -> None:
    plain = read_csv(_saved(tmp_path, TEXT.encode()), "SPY")
    # Python's "utf-16" and "utf-32" write a mark (little-endian here); "utf-16-be" writes none, so it is added.
    data = (
        ("\ufeff" + TEXT).encode(encoding) if encoding == "utf-16-be" else TEXT.replace("\n", "\r\n").encode(encoding)
    )
    assert read_csv(_saved(tmp_path, data), "SPY") == plain and len(plain) == len(rows("SPY"))


def test_excels_unicode_text_is_read_tabs_and_all(tmp_path: Path) -> None:
    """Excel's "Unicode text": UTF-16 little-endian with a mark, one row a line, fields separated by tabs."""
    plain = read_csv(_saved(tmp_path, TEXT.encode()), "SPY")
    excel = TEXT.replace(",", "\t").replace("\n", "\r\n")
    path = _saved(tmp_path, excel.encode("utf-16"))
    assert path.read_bytes()[:2] == b"\xff\xfe"
    assert CsvFolderProvider(tmp_path).daily_bars(["SPY"], START, END) == {"SPY": plain}


def test_utf16_without_a_mark_is_refused_naming_utf16_not_latin1(tmp_path: Path) -> None:
    with pytest.raises(SeriesRejected) as refused:
        read_csv(_saved(tmp_path, TEXT.encode("utf-16-le")), "SPY")
    [problem] = refused.value.problems
    assert problem.kind is ProblemKind.UNREADABLE and problem.where == f"{tmp_path / 'SPY.csv'}, line 1"
    assert "UTF-16 or UTF-32 text without a byte-order mark" in problem.reason
    assert "save it as UTF-8 CSV" in problem.reason and "Latin-1" not in problem.reason


def test_a_broken_utf16_file_names_utf16(tmp_path: Path) -> None:
    """A mark, then an odd byte out (a file cut short): the encoding the mark says is named."""
    with pytest.raises(SeriesRejected) as refused:
        read_csv(_saved(tmp_path, TEXT.encode("utf-16") + b"\x00"), "SPY")
    [problem] = refused.value.problems
    assert "begins with a UTF-16 byte-order mark, but is not valid UTF-16" in problem.reason
    assert "Latin-1" not in problem.reason


def test_latin1_is_still_called_latin1_with_its_line(tmp_path: Path) -> None:
    text = TEXT.replace(HEADER, HEADER + ",Note").replace(rows("SPY")[2], rows("SPY")[2] + ",caf\u00e9")
    with pytest.raises(SeriesRejected) as refused:
        read_csv(_saved(tmp_path, text.encode("latin-1")), "SPY")
    [problem] = refused.value.problems
    assert problem.where == f"{tmp_path / 'SPY.csv'}, line 4"
    assert "byte 0xE9 is not UTF-8 (the file looks Latin-1 or Windows-1252 encoded)" in problem.reason


def test_an_intraday_file_saved_as_excels_unicode_text_is_read(tmp_path: Path) -> None:
    """The folder's intraday files (intraday/SYMBOL.csv: Timestamp,Price) are read as its daily files are."""
    path = intraday_file(tmp_path, "SPY")
    path.parent.mkdir(parents=True)
    text = "Timestamp\tPrice\r\n2026-01-07T10:00:00-05:00\t600.5\r\n2026-01-07T11:00:00-05:00\t601.25\r\n"
    path.write_bytes(text.encode("utf-16"))
    now = datetime(2026, 1, 7, 11, 30, tzinfo=ZoneInfo("America/New_York"))
    quote = CsvQuotes(tmp_path, TradingCalendar()).latest(["SPY"], now)["SPY"]
    assert (quote.price, quote.kind) == (601.25, "intraday-file")
    path.write_bytes(text.encode("utf-16-le"))  # no mark: refused naming UTF-16, not a codec's error
    path.touch()
    with pytest.raises(MarketDataError, match=r"line 1: unreadable intraday file: it holds NUL bytes, as UTF-16"):
        CsvQuotes(tmp_path, TradingCalendar()).latest(["SPY"], now)
