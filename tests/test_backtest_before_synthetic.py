"""A backtest on the synthetic market over a range before the market begins (2015-01-02) is a bad argument (exit 2).

A new user's trial: `llmtrade backtest --from 2010-01-06 --to 2010-01-13 --offline` exited 1, an operational
failure, "synthetic returned no bars for 12 symbols ... between 2008-09-03 and 2010-01-19", days never given, with
nothing saying where the synthetic market's prices begin; a range that begins before it and ends after was already
refused (exit 2) as prices that begin late."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from llmtrade.cli import app as cli
from tests.test_backtest import _unique

runner = CliRunner()


def test_a_range_before_the_synthetic_market_names_where_it_begins(cli_env: dict[str, str]) -> None:
    name = _unique()
    args = ["backtest", "--from", "2010-01-06", "--to", "2010-01-13", "--offline", "--name", name]
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.stderr.split())
    assert (
        "the prices do not cover the range 2010-01-06 to 2010-01-13: the synthetic market begins on 2015-01-02" in said
    )
    assert "give --from 2015-01-07 or later" in said and "Traceback" not in refused.output
    # Refused before the backtest's database is made: nothing to resume.
    assert f"no backtest named {name!r}" in runner.invoke(cli, ["leaderboard", "--backtest", name]).stderr


def test_a_sweep_range_before_the_synthetic_market_is_refused_before_any_run(tmp_path: Path) -> None:
    """A sweep over a range before the synthetic market began started each run, which failed alone with exit 1 ("no
    bars"), where a backtest of the range is refused up front: each range is checked the same way before any run
    starts or any database is reached (an unreachable server here), naming its key; a range that begins before the
    market and ends after it is refused as the backtest's prices that begin late are, naming the first week that runs.
    """
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "name: early\nranges:\n  - {from: 2010-01-06, to: 2010-01-13}\n  - {from: 2014-12-17, to: 2015-02-04}\n"
    )
    unreachable = {"DATABASE_URL": "postgresql://x@127.0.0.1:1/n"}
    result = runner.invoke(cli, ["backtest", "sweep", str(path)], env=unreachable)
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"sweep file {path}: key ranges.0 (the runs range=2010-01-06..2010-01-13)" in said, said
    assert (
        "the prices do not cover the range 2010-01-06 to 2010-01-13: the synthetic market begins on 2015-01-02" in said
    )
    assert "from: 2015-01-07 in the sweep file's range or later" in said and "Traceback" not in result.output
    path.write_text("name: early\nranges:\n  - {from: 2014-12-17, to: 2015-02-04}\n")
    straddling = runner.invoke(cli, ["backtest", "sweep", str(path)], env=unreachable)
    assert straddling.exit_code == 2, straddling.output
    said = " ".join(straddling.output.split())
    assert f"sweep file {path}: key ranges.0 (the runs range=2014-12-17..2015-02-04)" in said, said
    assert "prices begin late" in said and "first bar is 2015-01-02" in said, said
