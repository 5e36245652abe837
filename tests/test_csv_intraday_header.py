"""An intraday file's header is matched as a daily file's is (market/csv_folder.py): whatever the case, spaces around
the names aside. `timestamp,price` (a script's lower case) or `Timestamp, Price` (a space after the comma) was refused
as "missing column(s) Price", naming a column the header has, while the daily file beside it, written the same way,
was read. A backtest's start that refuses a price far off its day (csv_quotes.py `off_range_rows`) finds its line
with the same reader, so it names it in such a file too, and passes over the blank lines at its end (no traceback)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from llmtrade.domain.market import Bar
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.csv_quotes import CsvQuotes, intraday_file, off_range_rows

CALENDAR = TradingCalendar()
DAY = date(2026, 1, 12)
NOW = datetime(2026, 1, 12, 10, 0, tzinfo=NEW_YORK)


def _file(folder: Path, header: str, tail: str = "") -> Path:
    path = intraday_file(folder, "SPY")
    path.parent.mkdir(parents=True, exist_ok=True)
    sep = "\t" if "\t" in header else ","
    rows = [f"2026-01-12T09:40:00-05:00{sep}600.0", f"2026-01-12T09:50:00-05:00{sep}60.1"]
    path.write_text("\n".join([header, *rows]) + "\n" + tail)
    return path


@pytest.mark.parametrize("header", ["timestamp,price", "Timestamp, Price", " TIMESTAMP ,price", "timestamp\tprice"])
def test_an_intraday_header_in_another_case_or_spaced_is_read(tmp_path: Path, header: str) -> None:
    _file(tmp_path, header)
    assert CsvQuotes(tmp_path, CALENDAR).latest(["SPY"], NOW)["SPY"].price == 60.1


@pytest.mark.parametrize(("header", "tail"), [("timestamp, price", ""), ("Timestamp,Price", "  \n,\n")])
def test_a_price_off_its_day_is_named_by_its_line_in_such_a_file(tmp_path: Path, header: str, tail: str) -> None:
    path = _file(tmp_path, header, tail)
    bar = Bar(symbol="SPY", day=DAY, open=599.0, high=602.0, low=598.0, close=600.0, volume=1, source="csv")
    refused = off_range_rows(tmp_path, {"SPY": [bar]}, [DAY], CALENDAR)
    assert refused is not None and f"{path}, line 3: SPY at " in str(refused), refused
