"""An intraday file's timestamp without a UTC offset is refused (README: Prices now), and the refusal says which offset
to add. It said "add -05:00 or Z" of every row: New York's offset in winter only. Followed for a summer row (New York
at -04:00), the row was read an hour late, 12:00 written as 13:00, in session and priced a checkpoint there: a price
misplaced in time, said nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmtrade.market.csv_intraday import intraday_rows
from llmtrade.market.failures import PriceFilesMisconfigured


@pytest.mark.parametrize(
    ("written", "offset"),
    [("2024-05-02 12:00:00", "-04:00"), ("2024-01-03T12:00:00", "-05:00"), ("2024-11-04 10:00:00", "-05:00")],
)
def test_a_timestamp_without_an_offset_is_told_new_yorks_offset_of_that_day(
    tmp_path: Path, written: str, offset: str
) -> None:
    path = tmp_path / "GLD.csv"
    data = f"Timestamp,Price\n{written},213.6\n".encode()
    with pytest.raises(PriceFilesMisconfigured) as caught:
        intraday_rows(path, data)
    said = str(caught.value)
    assert f"{path}, line 2: timestamp {written!r} has no UTC offset" in said, said
    assert f"add {offset}" in said and "Z" in said, said
    other = "-05:00" if offset == "-04:00" else "-04:00"
    assert other not in said, said
