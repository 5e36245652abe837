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


def _adjusted_close(line: str, factor: float) -> str:
    """A row with its Close scaled by `factor`, as an adjusted close put in Close's place leaves it."""
    day, ticker, open_, high, low, close, volume = line.split(",")
    return ",".join([day, ticker, open_, high, low, repr(float(close) * factor), volume])


def test_a_close_column_adjusted_beside_unadjusted_prices_is_one_problem_naming_what_it_likely_is(
    tmp_path: Path,
) -> None:
    """Found by a new user's trial: a Yahoo download whose Adj Close was put in Close's place (TLT, 3% of dividends
    below its open, high and low for years) was refused with 20 lines of "inconsistent bar ... fix the prices so that
    low <= open, close <= high" and "1589 more problems", never saying that it is one column, nor which."""
    spy = [_adjusted_close(line, 0.8) for line in rows("SPY")]
    write(tmp_path, "SPY", spy)
    with pytest.raises(SeriesRejected) as refused:
        read_csv(tmp_path / "SPY.csv", "SPY")
    [problem] = refused.value.problems
    assert problem.kind.value == "inconsistent" and problem.where == f"{tmp_path / 'SPY.csv'}, line 2"
    assert "close outside its day's low-high (below the day's low)" in problem.reason, problem.reason
    assert f"(and {len(spy) - 1} more rows alike: lines 3-{len(spy) + 1})" in problem.reason, problem.reason
    assert f"on {len(spy)} rows the close is off the day's open, high and low" in problem.reason
    assert "Yahoo's Adj Close" in problem.reason and "Give the unadjusted Close column" in problem.reason


def test_a_few_closes_off_their_day_are_named_without_the_adjusted_column_guess(tmp_path: Path) -> None:
    """Two bad prints are two rows to fix, not an adjusted column: both lines named, no guess."""
    spy = rows("SPY")
    spy[3], spy[9] = _adjusted_close(spy[3], 1.5), _adjusted_close(spy[9], 1.5)
    write(tmp_path, "SPY", spy)
    with pytest.raises(SeriesRejected) as refused:
        read_csv(tmp_path / "SPY.csv", "SPY")
    [problem] = refused.value.problems
    assert "close outside its day's low-high (above the day's high)" in problem.reason, problem.reason
    assert problem.reason.endswith("(and 1 more row alike: line 11)"), problem.reason
