"""An intraday file's row stamped on a day the NYSE was closed (a weekend, a holiday) is the file's to mend, as a
daily file's row on such a day is (market/csv_sessions.py): exit 2, naming the file, the line and the day. Such rows
were read without a word: no job priced anything at them (a weekend has no session), so the file's other rows were
trusted, though rows on a Saturday are what a timezone shift (rows stamped with the wrong offset, or exported from a
machine in Asia) or another exchange's calendar makes of every row of it. Rows on a session's day outside its hours
(pre-market, after-hours) are real prints and pass."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from llmtrade.errors import LlmtradeError
from llmtrade.exits import classify
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.csv_quotes import CsvQuotes, intraday_file

CALENDAR = TradingCalendar()
MONDAY = datetime(2026, 1, 12, 10, 0, tzinfo=NEW_YORK)


def _file(folder: Path, stamps: list[str]) -> Path:
    path = intraday_file(folder, "SPY")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(["Timestamp,Price", *(f"{s},600.0" for s in stamps)]) + "\n")
    return path


def _refusal(folder: Path, now: datetime = MONDAY) -> str:
    with pytest.raises(LlmtradeError) as caught:
        CsvQuotes(folder, CALENDAR).latest(["SPY"], now)
    failure = classify(caught.value)
    assert failure is not None and failure.code == 2, failure
    return failure.message


@pytest.mark.parametrize(
    ("stamp", "day"),
    [
        ("2026-01-10T10:00:00-05:00", "2026-01-10 (Saturday)"),
        ("2026-01-11T12:30:00-05:00", "2026-01-11 (Sunday)"),
        ("2026-01-01T10:00:00-05:00", "2026-01-01 (Thursday)"),  # New Year's Day
        # 02:00 UTC on Saturday is Friday 21:00 in New York: the row's day is New York's, so this one passes below.
    ],
)
def test_a_row_on_a_closed_day_is_refused_naming_the_file_line_and_day(tmp_path: Path, stamp: str, day: str) -> None:
    path = _file(tmp_path, ["2025-12-31T15:59:00-05:00", stamp, "2026-01-12T09:45:00-05:00"])
    message = _refusal(tmp_path)
    assert f"{path}, line 3: " in message, message
    assert day in message and "not an NYSE session" in message, message


def test_a_shifted_day_is_said_once_with_its_rows_alike(tmp_path: Path) -> None:
    # A Friday's rows stamped a day late: every one of them lands on Saturday.
    stamps = [f"2026-01-10T{h:02d}:{m:02d}:00-05:00" for h in range(10, 12) for m in (0, 30)]
    path = _file(tmp_path, ["2026-01-08T15:00:00-05:00", *stamps])
    message = _refusal(tmp_path)
    assert f"{path}, line 3: " in message and "2026-01-10 (Saturday)" in message, message
    assert "3 more rows alike" in message and "lines 4-6" in message, message


def test_rows_outside_the_sessions_hours_on_a_session_day_pass(tmp_path: Path) -> None:
    stamps = [
        "2026-01-09T07:00:00-05:00",  # Friday pre-market
        "2026-01-09T19:30:00-05:00",  # Friday after-hours
        "2026-01-10T02:00:00+00:00",  # Friday 21:00 in New York, written in UTC
        "2026-01-12T09:45:00-05:00",
    ]
    _file(tmp_path, stamps)
    quote = CsvQuotes(tmp_path, CALENDAR).latest(["SPY"], MONDAY)["SPY"]
    assert quote.price == 600.0 and quote.kind == "intraday-file"
