"""A refusal of many price problems counts them all and names every line to fix.

Found in review of the all-problems-at-once change: a file with 25 bad rows and another with one refused as
"22 problems" (a file's count of its unlisted rows was counted as one problem, and said to be "each recorded"); and a
file with two separate order mistakes named only the first line, so the user fixed it, reran and met the second."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmtrade.market.csv_folder import CsvFolderProvider, read_csv
from llmtrade.market.csv_problems import PER_FILE
from llmtrade.market.validation import SHOWN_PROBLEMS, SeriesRejected
from tests.market_series import END, START, rows, write


def test_the_count_of_problems_includes_those_a_file_does_not_list(tmp_path: Path) -> None:
    spy = rows("SPY")
    bad = PER_FILE + 5
    write(tmp_path, "SPY", [line + ",extra" if i < bad else line for i, line in enumerate(spy)])
    write(tmp_path, "TLT", [line + ",extra" if i == 3 else line for i, line in enumerate(rows("TLT"))])
    with pytest.raises(SeriesRejected) as refused:
        CsvFolderProvider(tmp_path).daily_bars(["SPY", "TLT"], START, END)
    message = str(refused.value)
    assert message.startswith(f"{bad + 1} problems with the prices:\n"), message
    assert PER_FILE + 2 > SHOWN_PROBLEMS  # SPY's count of 5 and TLT's line are past the lines shown
    assert message.endswith("  - and 6 more problems, in MarketDataRejected events"), message
    assert refused.value.every().endswith("  - and 6 more problems"), refused.value.every()


def test_every_line_of_a_said_once_problem_is_named(tmp_path: Path) -> None:
    """Two separate swaps of adjacent days: two fixes, both lines named in the one problem said."""
    spy = rows("SPY")
    spy[3], spy[4] = spy[4], spy[3]
    spy[15], spy[16] = spy[16], spy[15]
    write(tmp_path, "SPY", spy)
    with pytest.raises(SeriesRejected) as refused:
        read_csv(tmp_path / "SPY.csv", "SPY")
    [problem] = refused.value.problems
    assert problem.kind.value == "unordered" and problem.where == f"{tmp_path / 'SPY.csv'}, line 6"
    assert problem.reason.endswith("(and 1 more row alike: line 18)"), problem.reason
