"""Every problem of every price file a run needs, said in one error, each with its file and line.

Found by a new user with a folder of three bad files (and one file with problems on several lines): one problem per
run, fix it, rerun, meet the next."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.domain.market import Bar
from llmtrade.market.csv_folder import CsvFolderProvider, read_csv
from llmtrade.market.csv_problems import PER_FILE
from llmtrade.market.validation import SHOWN_PROBLEMS, SeriesRejected
from tests.market_series import END, START, rows, write
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write
from tests.test_backtest_bad_start import bars as bars

runner = CliRunner()


def _spoil(path: Path, line: int, column: int, value: str) -> None:
    """Set field `column` of `path`'s line `line` (1-based, the header line 1) to `value`."""
    lines = path.read_text().splitlines()
    fields = lines[line - 1].split(",")
    fields[column] = value
    lines[line - 1] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")


def _three_bad_files(folder: Path) -> list[str]:
    """GLD, TLT and SPY spoilt (SPY on three lines); where each problem should be said to be, in the order asked."""
    _spoil(folder / "GLD.csv", 6, 4, "abc")  # Close
    _spoil(folder / "TLT.csv", 8, 1, "")  # Open
    _spoil(folder / "SPY.csv", 10, 4, "abc")
    _spoil(folder / "SPY.csv", 13, 5, "-3")  # Volume
    _spoil(folder / "SPY.csv", 20, 0, "not a date")
    spy = [f"{folder / 'SPY.csv'}, line {n}" for n in (10, 13, 20)]
    return [*spy, f"{folder / 'TLT.csv'}, line 8", f"{folder / 'GLD.csv'}, line 6"]


def test_every_bad_line_of_every_file_is_refused_in_one_error(tmp_path: Path) -> None:
    write(tmp_path, "SPY", rows("SPY"))
    write(tmp_path, "TLT", rows("TLT"))
    write(tmp_path, "GLD", [row.replace(",SPY,", ",GLD,") for row in rows("SPY")])  # two symbols are known here
    _spoil(tmp_path / "GLD.csv", 6, 5, "abc")  # market_series files have a Ticker column: Close is field 5
    _spoil(tmp_path / "TLT.csv", 8, 2, "")
    _spoil(tmp_path / "SPY.csv", 10, 5, "abc")
    _spoil(tmp_path / "SPY.csv", 13, 6, "-3")
    _spoil(tmp_path / "SPY.csv", 20, 0, "not a date")
    with pytest.raises(SeriesRejected) as refused:
        CsvFolderProvider(tmp_path).daily_bars(["SPY", "TLT", "GLD"], START, END)
    places = [p.where for p in refused.value.problems]
    assert places == [
        f"{tmp_path / name}, line {n}"
        for name, n in [("SPY.csv", 10), ("SPY.csv", 13), ("SPY.csv", 20), ("TLT.csv", 8), ("GLD.csv", 6)]
    ]
    message = str(refused.value)
    assert message.startswith("5 problems with the prices:\n")
    assert all(f"  - {place}: " in message for place in places)


def test_a_file_wrong_on_every_line_is_listed_in_part_with_a_count_of_the_rest(tmp_path: Path) -> None:
    """An unquoted thousands separator on every row: the first PER_FILE lines, and how many more."""
    lines = rows("SPY")
    write(tmp_path, "SPY", [line + ",extra" for line in lines])
    with pytest.raises(SeriesRejected) as refused:
        read_csv(tmp_path / "SPY.csv", "SPY")
    problems = refused.value.problems
    assert len(problems) == PER_FILE + 1
    assert [p.where for p in problems[:PER_FILE]] == [f"{tmp_path / 'SPY.csv'}, line {n}" for n in range(2, 22)]
    assert problems[-1].reason == f"{len(lines) - PER_FILE} more problems on later lines, not listed"
    # A message lists SHOWN_PROBLEMS of many files' problems, and counts the rest.
    # The count of a file's unlisted problems counts as the problems it stands for (tests/test_csv_problems_counted.py).
    many = SeriesRejected(problems * 2)
    assert str(many).startswith(f"{len(lines) * 2} problems with the prices:\n")
    assert str(many).count("\n  - ") == SHOWN_PROBLEMS + 1
    assert str(many).endswith(f"  - and {len(lines) * 2 - SHOWN_PROBLEMS} more problems, in MarketDataRejected events")
    assert "recorded" not in many.every()


def test_a_newest_first_file_is_one_problem_and_its_other_lines_still_read(tmp_path: Path) -> None:
    """An order problem is said once (a file in reverse is out of order at every row); the rows after it are still
    read for their own problems."""
    lines = rows("SPY")[::-1]
    write(tmp_path, "SPY", lines)
    _spoil(tmp_path / "SPY.csv", 9, 5, "abc")
    with pytest.raises(SeriesRejected) as refused:
        read_csv(tmp_path / "SPY.csv", "SPY")
    kinds = [(p.kind.value, p.where) for p in refused.value.problems]
    assert kinds == [
        ("unordered", f"{tmp_path / 'SPY.csv'}, line 3"),
        ("bad_price", f"{tmp_path / 'SPY.csv'}, line 9"),
    ]
    first = refused.value.problems[0].reason
    assert "every row runs newest first" in first and first.endswith(
        f"(and {len(lines) - 3} more rows alike: lines 4-8, 10-{len(lines) + 1})"
    )


def test_a_file_under_another_symbols_name_is_one_problem_not_one_a_row(tmp_path: Path) -> None:
    write(tmp_path, "QQQ", rows("SPY"))
    with pytest.raises(SeriesRejected) as refused:
        read_csv(tmp_path / "QQQ.csv", "QQQ")
    [problem] = refused.value.problems
    assert problem.kind.value == "wrong_symbol" and problem.where == f"{tmp_path / 'QQQ.csv'}, line 2"
    last = len(rows("SPY")) + 1
    assert problem.reason.endswith(
        f"Ticker 'SPY' is not QQQ, the file's symbol (and {last - 2} more rows alike: lines 3-{last})"
    )


def test_a_backtest_says_every_problem_of_every_file_in_one_error(
    bars: dict[str, list[Bar]], cli_env: dict[str, str], pg_admin_url: str, tmp_path: Path
) -> None:
    folder, name = tmp_path / "prices", _unique()
    _write(folder, bars)
    places = _three_bad_files(folder)
    week = WEEK.isoformat()
    args = ["backtest", "--offline", "--csv", str(folder), "--from", week, "--to", week, "--name", name]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output  # the folder's to mend (market/failures.py PriceFilesMisconfigured)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "csv: 5 problems with the prices (so no market data provider could supply" in result.stderr
    for where in places:
        symbol = Path(where.split(",")[0]).stem
        assert f"\n  - {where}: {symbol}: " in result.stderr, result.stderr


def test_a_missing_session_is_said_with_the_other_files_problems_and_the_summary_names_the_short_symbols(
    bars: dict[str, list[Bar]], cli_env: dict[str, str], pg_admin_url: str, tmp_path: Path
) -> None:
    """A trial: seven spoilt files and a session deleted from QQQ's; QQQ came only in the run after the six were fixed,
    and every error ended "no market data provider could supply 7 symbols" whichever were bad."""
    folder, name = tmp_path / "prices", _unique()
    _write(folder, bars)
    _spoil(folder / "GLD.csv", 6, 4, "abc")
    qqq = (folder / "QQQ.csv").read_text().splitlines()
    gone = qqq.pop(40)  # a session in the middle of the backtest's history
    (folder / "QQQ.csv").write_text("\n".join(qqq) + "\n")
    week = WEEK.isoformat()
    args = ["backtest", "--offline", "--csv", str(folder), "--from", week, "--to", week, "--name", name]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output  # a file's bad row beside another's gap: the folder's to mend
    assert f"\n  - {folder / 'GLD.csv'}, line 6: GLD: " in result.stderr, result.stderr
    assert f"{folder / 'QQQ.csv'}, lines 40-41: QQQ: missing 1 NYSE session between" in result.stderr, result.stderr
    assert gone.split(",")[0] in result.stderr, result.stderr
    assert f"could supply QQQ, GLD (of the {len(bars)} asked) for" in result.stderr, result.stderr  # asked order
