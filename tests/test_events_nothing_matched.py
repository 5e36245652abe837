"""`events` whose filters match nothing says so on stderr, naming what matched nothing and what the books hold: a
trial's `events --backtest NAME --week D` for a week the backtest never ran printed an empty table (nothing at all
with `--json`) and exited 0, which a user could not tell from a week with no events of that kind."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from llmtrade.cli import app as cli
from tests.test_backtest import _unique
from tests.test_backtest_bad_start import WEEK, _write, history

runner = CliRunner()


def test_a_week_outside_a_backtest_is_refused_naming_its_weeks_and_an_empty_match_is_said(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    folder, name = tmp_path / "prices", _unique()
    _write(folder, history(WEEK + timedelta(days=10)))
    args = ["backtest", "--csv", str(folder), "--from", str(WEEK), "--to", str(WEEK), "--offline", "--name", name]
    ran = runner.invoke(cli, args)
    assert ran.exit_code == 0, ran.output

    # A week the backtest's range does not hold (the week of a Friday a year later): bad input, exit 2.
    for extra in ([], ["--json"]):
        outside = runner.invoke(cli, ["events", "--backtest", name, "--week", "2027-01-15", *extra])
        assert outside.exit_code == 2, outside.output
        said = " ".join(outside.stderr.split())
        assert "week of 2027-01-13" in said, said
        assert f"backtest {name}" in said, said
        assert f"first week {WEEK}, last week {WEEK}" in said, said
        assert outside.stdout == "", outside.stdout

    # The live books (no backtest) hold no week at all: said as such, exit 2.
    live = runner.invoke(cli, ["events", "--week", str(WEEK)])
    assert live.exit_code == 2, live.output
    assert "the books hold no event of that week (they hold no week yet)" in " ".join(live.stderr.split())

    # A week the backtest ran, with filters that each name something it holds but nothing together: exit 0 (an
    # answer, empty), said on stderr with the filters, and stdout's JSON Lines stay empty.
    combined = ["events", "--backtest", name, "--week", str(WEEK), "--type", "BacktestFinished", "--account", "acct_1"]
    empty = runner.invoke(cli, [*combined, "--json"])
    assert empty.exit_code == 0, empty.output
    assert empty.stdout == ""
    said = " ".join(empty.stderr.split())
    assert f"no event matches --week {WEEK} --type BacktestFinished --account acct_1" in said, said
