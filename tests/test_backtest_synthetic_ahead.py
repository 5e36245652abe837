"""A backtest on the synthetic market whose range reads a session not closed yet is a bad argument (exit 2).

Found as a new user would: `llmtrade backtest --from 2026-11-25 --to 2026-12-16 --offline` on 2026-12-04 ran to the
close of 2026-12-22 with no word, its leaderboard "as of the close of 2026-12-22", its accounts and baselines valued
at closes of days still to come: the synthetic market makes up a bar for any day, where real prices (a file, a
provider) have none and are refused. Now refused before the backtest's database is made, naming the `--to` whose
weeks read only closed sessions (which then runs), and a sweep refuses such a range before any database is reached.
The dates are taken from today's, as the refusal's are: a fixed date would be in the past some day.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.clock import SystemClock
from llmtrade.market.calendar import TradingCalendar, new_york_date
from tests.test_backtest import _unique

runner = CliRunner()


def _today() -> date:
    return new_york_date(SystemClock().now())


def test_a_synthetic_range_past_the_last_closed_session_is_refused_naming_the_to_that_runs(
    cli_env: dict[str, str],
) -> None:
    name = _unique()
    first, last = _today() - timedelta(days=28), _today() + timedelta(days=14)
    args = ["backtest", "--from", str(first), "--to", str(last), "--offline", "--name", name]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    closed = TradingCalendar().last_completed_session(SystemClock().now())
    assert "the range reads the synthetic market to " in said, said
    assert f"a session not closed yet (the last closed now is {closed})" in said, said
    assert "Traceback" not in result.output
    # Refused before the backtest's database is made: nothing to resume, nothing to read.
    board = runner.invoke(cli, ["leaderboard", "--backtest", name])
    assert board.exit_code == 2 and f"no backtest named {name!r}" in board.stderr, board.output
    found = re.search(r"end the range with --to (\d{4}-\d{2}-\d{2}) \(its last week the sessions closed now cover, "
                      r"reading to (\d{4}-\d{2}-\d{2})\)", said)  # fmt: skip
    assert found is not None, said
    assert date.fromisoformat(found[2]) <= closed
    fixed = runner.invoke(cli, [*args[:3], "--to", found[1], "--offline", "--name", name, "--json"])
    assert fixed.exit_code == 0, fixed.output
    shown = runner.invoke(cli, ["leaderboard", "--backtest", name, "--json"])
    assert shown.exit_code == 0, shown.output
    assert '"end": "' + found[2] + '"' in shown.stdout or f'"end":"{found[2]}"' in shown.stdout, shown.stdout[:400]


def test_a_sweep_whose_synthetic_range_reads_a_session_not_closed_yet_exits_2_before_any_database(
    tmp_path: Path,
) -> None:
    last = _today() + timedelta(days=14)
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: ahead\nranges:\n  - {{from: 2026-01-07, to: {last}}}\n")
    # An unreachable server: refused with the file, before the sweep's database (or any run's) is reached.
    result = runner.invoke(cli, ["backtest", "sweep", str(path)], env={"DATABASE_URL": "postgresql://x@127.0.0.1:1/n"})
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"sweep file {path}: key ranges.0 (the runs range=2026-01-07.." in said, said
    assert "the range reads the synthetic market to " in said and "end the range with to: " in said, said
