"""An intraday file of a symbol a backtest quotes that cannot be read (a row that cannot be read, one on a closed day, a
blank line among its rows) refuses the backtest's start, exit 2, naming the file and line, as a price of it far off
its day does (csv_quotes.py `off_range_rows`) and as a daily file's bad row does. Left to the first quote of the
symbol, it stopped the backtest there: after the weeks before had run (their model calls paid for), with books
half-made, though the same file was known wrong before any of them. A discovery candidate's is left out, said once,
as a candidate's price far off its day is."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from llmtrade.domain.market import Bar
from llmtrade.exits import classify
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.csv_quotes import intraday_file, off_range_rows

CALENDAR = TradingCalendar()
DAY = date(2026, 1, 12)
BAR = Bar(symbol="GLD", day=DAY, open=100.0, high=101.0, low=99.0, close=100.5, volume=1, source="csv")
GOOD = ["Timestamp,Price", "2026-01-09T10:00:00-05:00,100.2", "2026-01-12T11:00:00-05:00,100.4"]


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ("2026-01-12T10:30:00-05:00,abc", "unreadable row"),
        ("2026-01-10T10:30:00-05:00,100.3", "not an NYSE session"),
        ("", "blank line among the rows"),
    ],
)
def test_an_unreadable_intraday_file_of_a_quoted_symbol_refuses_the_start(tmp_path: Path, bad: str, said: str) -> None:
    path = intraday_file(tmp_path, "GLD")
    path.parent.mkdir(parents=True)
    path.write_text("\n".join([*GOOD[:2], bad, GOOD[2]]) + "\n")
    refused = off_range_rows(tmp_path, {"GLD": [BAR]}, [DAY], CALENDAR)
    assert refused is not None
    failure = classify(refused)
    assert failure is not None and failure.code == 2, failure
    assert f"{path}, line 3: " in failure.message and said in failure.message, failure.message


def test_a_backtest_with_no_job_in_session_reads_no_intraday_file(tmp_path: Path) -> None:
    path = intraday_file(tmp_path, "GLD")
    path.parent.mkdir(parents=True)
    path.write_text("\n".join([*GOOD[:2], "2026-01-12T10:30:00-05:00,abc", GOOD[2]]) + "\n")
    assert off_range_rows(tmp_path, {"GLD": [BAR]}, [], CALENDAR) is None
