"""A backtest range its price files do not cover at all is a bad argument (exit 2) naming the prices' first and last
day, refused before anything is written. A sweep refuses such a range before any run starts
(tests/test_sweep_file.py `test_a_range_the_price_files_do_not_cover_exits_2_before_any_run`).

Found by a new user's trial on CSV folders of daily ETF prices: `--from 2015-01-07 --to 2015-06-24` (and a range in
2027) exited 1, an operational failure, with "prices end early ... give its later history"; a sweep of the same range
exited 1 advising "rerun the sweep to retry them", which can never succeed."""

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


def test_a_range_the_prices_cover_in_part_is_not_refused_as_outside_them(cli_env: dict[str, str], prices: Path) -> None:
    """SPY ends inside the range: prices that end early (what to do is to give their later history), as before."""
    args = ["backtest", "--csv", str(prices), "--from", "2026-01-07", "--to", "2026-02-04", "--offline"]
    result = runner.invoke(cli, [*args, "--name", _unique()])
    assert result.exit_code == 1, result.output
    assert "prices end early: SPY's" in result.stderr and "do not cover the range" not in result.stderr
