"""A daily row's date is read whole: what follows its first ten characters must be a time of that day (yfinance's
`2024-01-02 00:00:00-05:00`, an ISO `T00:00:00Z`), else the date cannot be read and the row is refused, naming its line.
Only the first ten characters were read, so a typo with a digit too many (`2024-01-031`, meant for the 31st, read as
the 3rd) or a cell run into the next (`2024-01-03x`) gave a row of another day than written, without a word."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmtrade.market.csv_folder import read_csv
from llmtrade.market.validation import SeriesRejected
from tests.market_series import HEADER, rows


def _file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "SPY.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


@pytest.mark.parametrize("tail", ["1", "x", " 25:00", "T10:00:00+99:00", " 00:00:00 junk"])
def test_a_date_followed_by_anything_but_a_time_is_refused(tmp_path: Path, tail: str) -> None:
    lines = rows()
    day, rest = lines[3].split(",", 1)
    lines[3] = f"{day}{tail},{rest}"
    with pytest.raises(SeriesRejected) as caught:
        read_csv(_file(tmp_path, lines), "SPY")
    message = str(caught.value)
    assert f"{tmp_path / 'SPY.csv'}, line 5: SPY: unparsable date '{day}{tail}'" in message, message


@pytest.mark.parametrize("tail", [" 00:00:00-05:00", "T00:00:00Z", " 00:00:00", "T16:00:00.000+00:00"])
def test_a_date_with_a_time_of_its_day_is_read(tmp_path: Path, tail: str) -> None:
    lines = [f"{r.split(',', 1)[0]}{tail},{r.split(',', 1)[1]}" for r in rows()]
    assert read_csv(_file(tmp_path, lines), "SPY") == read_csv(_file(tmp_path, rows()), "SPY")
