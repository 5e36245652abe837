"""A daily row written while its session traded, of a session long closed by the real clock: exit 2, not 75.

A trial's backtest over 2024 ended on such a row (its own time 11:30, inside its session) and exited 75; its
leaderboard said to run the same command again later. Its exporter will not write a 2024 file again: only the file
mended or the range ended earlier helps, which the message says (csv_unfinished.py `_stale`). A row of today's session,
or the last one, is still temporary (tests/test_csv_unfinished_rows.py, tests/test_sweep_unfinished_rows.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.clock import FixedClock
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.market.failures import PriceFilesMisconfigured
from tests.test_sweep_unfinished_rows import LAST, _prices

runner = CliRunner()


def test_a_backtest_ending_on_a_row_of_a_session_long_closed_exits_2_saying_the_two_fixes(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    prices = _prices(tmp_path, time(11, 30))
    name = f"bt{uuid.uuid4().hex[:6]}"
    args = ["--from", "2026-01-07", "--to", "2026-01-07", "--offline", "--csv", str(prices), "--name", name]
    result = runner.invoke(cli, ["backtest", *args])
    said = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert f"no final row of {LAST} in {prices / 'SPY.csv'}" in said, said
    assert "running the same command again later will not help" in said, said
    assert f"{prices / 'SPY.csv'} (its row of {LAST})" in said and f"end the range before {LAST}" in said, said
    board = runner.invoke(cli, ["leaderboard", "--backtest", name])
    assert "again later" not in " ".join(board.output.split()), board.output


@pytest.mark.parametrize("after", [timedelta(minutes=30), timedelta(hours=23)])
def test_a_row_of_the_last_session_by_the_real_clock_is_still_temporary(tmp_path: Path, after: timedelta) -> None:
    prices = _prices(tmp_path, time(11, 30))
    close = datetime.combine(LAST, time(16), NEW_YORK)
    provider = CsvFolderProvider(prices, clock=FixedClock(close + after))
    with pytest.raises(Exception) as caught:
        provider.daily_bars(["SPY"], LAST, LAST)
    assert caught.value.exit_code == 75, caught.value


def test_a_row_whose_next_session_closed_too_is_the_files_to_mend(tmp_path: Path) -> None:
    prices = _prices(tmp_path, time(11, 30))
    calendar = TradingCalendar()
    provider = CsvFolderProvider(prices, clock=FixedClock(calendar.session_close(calendar.next_session(LAST))))
    with pytest.raises(PriceFilesMisconfigured) as caught:
        provider.daily_bars(["SPY"], LAST, LAST)
    assert caught.value.exit_code == 2 and f"end the range before {LAST}" in str(caught.value)
