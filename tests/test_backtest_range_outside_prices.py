"""A backtest range its price files do not cover at all is a bad argument (exit 2) naming the prices' first and last
day, refused before anything is written. A sweep refuses such a range before any run starts
(tests/test_sweep_file.py `test_a_range_the_price_files_do_not_cover_exits_2_before_any_run`).

Found by a new user's trial on CSV folders of daily ETF prices: `--from 2015-01-07 --to 2015-06-24` (and a range in
2027) exited 1, an operational failure, with "prices end early ... give its later history"; a sweep of the same range
exited 1 advising "rerun the sweep to retry them", which can never succeed. A range that runs past the benchmark's
last bar, or begins before its first, is the user's to change too (exit 2), naming the week the prices cover."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.domain.market import Bar
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history

runner = CliRunner()


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    """The universe's and SPY's daily bars, 2024-08-30 to 2026-01-16."""
    folder = tmp_path / "prices"
    bars: dict[str, list[Bar]] = history(WEEK + timedelta(days=10))
    assert {(b[0].day.isoformat(), b[-1].day.isoformat()) for b in bars.values()} == {("2024-08-30", "2026-01-16")}
    _write(folder, bars)
    return folder


@pytest.mark.parametrize(("first", "last"), [("2026-03-04", "2026-03-11"), ("2024-01-03", "2024-01-10")])
def test_a_range_outside_the_price_files_is_a_bad_argument_naming_their_days(
    cli_env: dict[str, str], prices: Path, first: str, last: str
) -> None:
    name = _unique()
    args = ["backtest", "--csv", str(prices), "--from", first, "--to", last, "--offline", "--name", name]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert (
        f"the prices do not cover the range {first} to {last}: the files in {prices} run from 2024-08-30 to "
        "2026-01-16; give a range inside those days"
    ) in " ".join(result.stderr.split()), result.stderr
    # Refused before the backtest's database is made: nothing to resume, nothing to read.
    board = runner.invoke(cli, ["leaderboard", "--backtest", name])
    assert board.exit_code == 2 and f"no backtest named {name!r}" in board.stderr, board.output


def test_a_range_past_the_benchmarks_last_bar_is_a_bad_argument_naming_the_last_week_covered(
    cli_env: dict[str, str], prices: Path
) -> None:
    """SPY (every file) ends inside the range, on a Friday: not refused as outside the prices, but the range is still
    the user's to change (a folder downloaded today, given --to today). It exited 1, an operational failure, with
    "give its later history, or end the range there", and --to that Friday still ran a week past it."""
    name = _unique()
    args = ["backtest", "--csv", str(prices), "--from", "2026-01-07", "--to", "2026-02-04", "--offline", "--name", name]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    assert "prices end early: SPY's" in said and "do not cover the range" not in said, said
    assert "last bar is 2026-01-16, before the range's last week reads (to 2026-02-10)" in said, said
    # The week of 2026-01-14 reads to Tuesday 2026-01-20: the last week the prices cover is 2026-01-07's.
    assert "end the range with --to 2026-01-07 (its last week these prices cover, reading to 2026-01-13)" in said
    assert "or give SPY.csv its later history" in said
    # Recorded with its exit code, and the --to it named runs under the same name (the start bound nothing).
    stopped = runner.invoke(cli, ["events", "--backtest", name, "-t", "BacktestStopped", "--json"])
    assert '"exit_code":2' in stopped.stdout.replace(" ", ""), stopped.output
    fixed = runner.invoke(cli, [*args[:5], "--to", "2026-01-07", "--offline", "--name", name])
    assert fixed.exit_code == 0, fixed.output


def test_a_range_before_the_benchmarks_first_bar_is_a_bad_argument_naming_the_first_week_covered(
    cli_env: dict[str, str], prices: Path
) -> None:
    """SPY's first bar (Friday 2024-08-30) comes after the first week's as-of session (Tuesday 2024-08-27): files
    that begin on their first day, given --from that day. It exited 1 with "start the backtest after it"."""
    args = ["backtest", "--csv", str(prices), "--from", "2024-08-28", "--to", "2024-09-11", "--offline"]
    result = runner.invoke(cli, [*args, "--name", _unique()])
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    assert "prices begin late: SPY's" in said and "after the first week's as-of session 2024-08-27" in said, said
    assert "start the range with --from 2024-09-04 (its first week these prices cover, as of 2024-09-03)" in said
    assert "or give SPY.csv its earlier history" in said


@pytest.mark.parametrize(
    ("first", "last", "named"),
    [
        # SPY's first bar (Friday 2024-08-30) comes after both weeks' as-of sessions: the first week covered is next.
        (
            "2024-08-21",
            "2024-08-28",
            "give a range that starts at --from 2024-09-04 or later (the first week these prices cover, as of "
            "2024-09-03)",
        ),
        # SPY's last bar (Friday 2026-01-16) comes before the first week's Tuesday: the last week covered is before it.
        (
            "2026-01-14",
            "2026-01-21",
            "its first, 2026-01-14, reads to 2026-01-20): give a range that ends at --to "
            "2026-01-07 or earlier (the last week these prices cover, reading to 2026-01-13)",
        ),
    ],
)
def test_a_range_no_week_of_which_the_benchmark_covers_names_the_nearest_week_it_does(
    cli_env: dict[str, str], prices: Path, first: str, last: str, named: str
) -> None:
    """Found in a new user's trial on the ETF files (SPY from 2018-01-02), `--from 2017-12-20 --to 2017-12-27`: "the
    weeks before it cannot run: no week of the range is covered, or give SPY.csv its earlier history", naming no week
    that would run, where a range covered in part names its first (or last) week covered."""
    args = ["backtest", "--csv", str(prices), "--from", first, "--to", last, "--offline", "--name", _unique()]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    assert "no week of the range is covered" in said, said
    assert named in said, said
