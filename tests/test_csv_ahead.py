"""A price file's rows dated after today are refused (exit 2), naming the file and line, never read as prices.

Found as a new user would: a CSV folder whose file ran past today (a typo, the wrong year, a provider's template with
future dates) was read as if those days had happened: a live `market bars` showed them and a backtest whose range
needed them valued its books at closes still to come. "Today" is the machine's (market/csv_folder.py says why): the
provider is given a fixed clock here, and the backtest's dates are taken from today's, so no date here goes stale.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.clock import FixedClock, SystemClock
from llmtrade.config.loader import load_config
from llmtrade.config.models import BENCHMARK
from llmtrade.domain.market import Bar
from llmtrade.market.calendar import NEW_YORK, new_york_date
from llmtrade.market.csv_folder import CsvFolderProvider
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.market.validation import ProblemKind, SeriesRejected
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import _write

runner = CliRunner()


def _bars(start: date, until: date) -> dict[str, list[Bar]]:
    assets = load_config(None).config.assets
    classes = {i.symbol: i.asset_class.value for i in assets.universe}
    return SyntheticMarket(classes, seed=5).daily_bars(sorted({*assets.symbols, BENCHMARK}), start, until)


def test_rows_after_today_are_refused_naming_the_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "prices"
    _write(folder, {"SPY": _bars(date(2026, 2, 2), date(2026, 3, 13))["SPY"]})
    today = datetime(2026, 3, 4, 12, 0, tzinfo=NEW_YORK)
    provider = CsvFolderProvider(folder, named_by="--csv", clock=FixedClock(today))
    lines = (folder / "SPY.csv").read_text().splitlines()
    first_ahead = next(n for n, text in enumerate(lines, 1) if text.startswith("2026-03-05"))
    with pytest.raises(SeriesRejected) as caught:
        provider.daily_bars(["SPY"], date(2026, 2, 2), date(2026, 3, 13))
    [problem] = caught.value.problems
    assert problem.kind is ProblemKind.AHEAD and problem.where == f"{folder / 'SPY.csv'}, line {first_ahead}"
    assert "2026-03-05 is after today (2026-03-04" in problem.message() and "more rows alike" in problem.message()
    # A range that ends by today does not need those rows: read as ever.
    read = provider.daily_bars(["SPY"], date(2026, 2, 2), date(2026, 3, 4))["SPY"]
    assert read[-1].day == date(2026, 3, 4)


def test_a_backtest_whose_range_needs_rows_after_today_exits_2_naming_the_file(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    today = new_york_date(SystemClock().now())
    folder = tmp_path / "prices"
    _write(folder, _bars(today - timedelta(days=200), today + timedelta(days=30)))
    first, last = today - timedelta(days=21), today + timedelta(days=14)
    args = ["backtest", "--from", str(first), "--to", str(last), "--offline", "--csv", str(folder), "--name", _unique()]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    assert str(folder / "SPY.csv") in said and f"is after today ({today}" in said, said
    assert "Traceback" not in result.output
